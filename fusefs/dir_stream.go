package fusefs

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
)

// scanBatchEntries is how many listed names travel from the scanning
// goroutine to the kernel's READDIR at a time.
const scanBatchEntries = 256

// sessionDirStream lists a directory without holding it whole: the fixed
// entries first (views, scratch files, pending creates), then the store's
// sessions as its Scan streams them, a batch at a time. A mount listing a
// million sessions holds one batch, not a million names: a mount's memory
// grows with its metadata cache, not with what it lists.
type sessionDirStream struct {
	start func(ctx context.Context, emit func([]listed) bool) error // runs the scan

	fixed  []listed
	cur    []listed
	last   listed // the entry Next returned last
	batchc chan []listed
	errc   chan error
	cancel context.CancelFunc
	err    syscall.Errno
	errno  func(error) syscall.Errno
	recent recentBatches // the last batches taken, for lookups (listing_metas.go)
}

// listed is one entry of a listing, with the session's metadata the scan
// found (nil for entries that are not sessions): the lookup go-fuse makes
// right after, for READDIRPLUS, uses it instead of asking the store again.
type listed struct {
	fuse.DirEntry
	meta *store.Meta
	read time.Time // when the scan read the batch holding it
	gen  uint64    // the mount's change generation when the scan started
}

func newSessionDirStream(fixed []listed, errno func(error) syscall.Errno,
	start func(ctx context.Context, emit func([]listed) bool) error) *sessionDirStream {
	ds := &sessionDirStream{start: start, fixed: fixed, errno: errno}
	ds.restart()
	return ds
}

// restart (re)starts the listing from its first entry.
func (ds *sessionDirStream) restart() {
	ds.stop()
	ctx, cancel := context.WithCancel(context.Background())
	batchc, errc := make(chan []listed, 1), make(chan error, 1)
	ds.cur, ds.batchc, ds.errc, ds.cancel, ds.err = ds.fixed, batchc, errc, cancel, 0
	go func() {
		defer close(batchc)
		errc <- ds.start(ctx, func(batch []listed) bool {
			select {
			case batchc <- batch:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
}

// stop ends a running scan and waits for its goroutine.
func (ds *sessionDirStream) stop() {
	if ds.cancel == nil {
		return
	}
	ds.cancel()
	for range ds.batchc {
	}
	ds.cancel = nil
}

// HasNext - go-fuse DirStream.
func (ds *sessionDirStream) HasNext() bool {
	for len(ds.cur) == 0 {
		if ds.cancel == nil || ds.err != 0 {
			return false
		}
		batch, ok := <-ds.batchc
		if !ok {
			if err := <-ds.errc; err != nil {
				ds.err = ds.errno(err)
				return true // Next reports it
			}
			ds.cancel()
			ds.cancel = nil
			return false
		}
		ds.cur = batch
		ds.recent.push(batch)
	}
	return true
}

// Next - go-fuse DirStream.
func (ds *sessionDirStream) Next() (fuse.DirEntry, syscall.Errno) {
	if len(ds.cur) == 0 {
		ds.last = listed{}
		return fuse.DirEntry{}, ds.err
	}
	ds.last = ds.cur[0]
	ds.cur = ds.cur[1:]
	return ds.last.DirEntry, 0
}

// lastMeta is the scan's metadata of the entry Next returned last, if
// that entry is name and a session.
func (ds *sessionDirStream) lastMeta(name string) *store.Meta {
	if ds.last.Name != name {
		return nil
	}
	return ds.last.meta
}

// Seekdir - go-fuse FileSeekdirer. go-fuse numbers entries 1, 2, ... in
// listing order, which the backing directory keeps while unchanged: a seek
// restarts the listing and skips off entries.
func (ds *sessionDirStream) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	ds.restart()
	for ; off > 0; off-- {
		if !ds.HasNext() {
			return 0
		}
		if _, e := ds.Next(); e != 0 {
			return e
		}
	}
	return 0
}

// Close - go-fuse DirStream.
func (ds *sessionDirStream) Close() { ds.stop() }
