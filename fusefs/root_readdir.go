package fusefs

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
	"time"
)

// rootDirHandle is an open of the top directory: the listing it reads, and
// the lookups go-fuse makes for the entries of a READDIRPLUS.
type rootDirHandle struct {
	d  *rootDir
	ds *sessionDirStream // started at the first read
}

var (
	_ = (fs.FileReaddirenter)((*rootDirHandle)(nil))
	_ = (fs.FileSeekdirer)((*rootDirHandle)(nil))
	_ = (fs.FileReleasedirer)((*rootDirHandle)(nil))
	_ = (fs.FileLookuper)((*rootDirHandle)(nil))
)

// OpendirHandle - FUSE call.
func (d *rootDir) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return &rootDirHandle{d: d}, 0, 0
}

func (h *rootDirHandle) stream(ctx context.Context) (*sessionDirStream, syscall.Errno) {
	if h.ds == nil {
		ds, e := h.d.listing(ctx)
		if e != 0 {
			return nil, e
		}
		h.ds = ds
		h.d.listings.add(ds)
	}
	return h.ds, 0
}

// Readdirent - FUSE call (go-fuse reads one entry at a time).
func (h *rootDirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	ds, e := h.stream(ctx)
	if e != 0 {
		return nil, e
	}
	if !ds.HasNext() {
		return nil, 0
	}
	de, e := ds.Next()
	return &de, e
}

// Seekdir - FUSE call.
func (h *rootDirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	ds, e := h.stream(ctx)
	if e != 0 {
		return e
	}
	return ds.Seekdir(ctx, off)
}

// Releasedir - FUSE call.
func (h *rootDirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {
	if h.ds != nil {
		h.d.listings.remove(h.ds)
		h.ds.Close()
	}
}

// Lookup - the lookup behind one READDIRPLUS entry. While the inode budget
// is spent, a session the kernel does not hold yet is listed without
// attributes (no new inode): the kernel
// looks it up on its own if the lister stats it, and those lookups, one
// request each, leave room for the hand-back to keep pace, where a
// READDIRPLUS batch would make hundreds of inodes at once.
//
// go-fuse asks right after reading the entry, so the metadata the listing's
// scan just read answers it: one lstat per session a listing, not two.
func (h *rootDirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	key, isSession := sessionKey(name)
	if !isSession {
		return h.d.Lookup(ctx, name, out)
	}
	if h.d.GetChild(name) == nil && h.d.inodes.full() {
		if h.ds != nil {
			h.ds.recent.omitted.Store(true)
		}
		return nil, syscall.ENOENT // go-fuse then sends the entry with node id 0: no attributes
	}
	var known *store.Meta
	if h.ds != nil {
		known = h.ds.lastMeta(name)
	}
	return h.d.lookupSession(ctx, name, key, out, nil, known)
}

// listing is the top directory's listing: every live session, minus keys
// hidden by an editor's backup rename, plus sessions being created, the
// scratch files and the views.
// noListingWarned: a store that cannot list is logged once, not at every readdir.
var noListingWarned atomic.Bool

func (d *rootDir) listing(ctx context.Context) (_ *sessionDirStream, status syscall.Errno) {
	d.mu.Lock()
	hidden := d.ns.hidden(true)
	var entries []fuse.DirEntry
	for key := range d.ns.pending { // listed here, hidden from the store's listing
		entries = append(entries, fuse.DirEntry{Name: sessionName(key), Mode: syscall.S_IFREG})
	}
	entries = append(entries, d.ns.scratch.dirEntries()...)
	d.mu.Unlock()
	entries = append(entries, d.viewDirEntries()...)
	fixed := make([]listed, len(entries))
	for i, e := range entries {
		fixed[i] = listed{DirEntry: e}
	}

	scan := func(ctx context.Context, emit func([]listed) bool) error {
		now, gen := time.Now(), d.changes.n.Load()
		batch := make([]listed, 0, scanBatchEntries)
		var read time.Time // when the batch's first entry was read
		count := 0
		err := d.store.Scan(ctx, func(e store.Entry) error {
			if !d.live(e, now) || hidden[e.Key] {
				return nil
			}
			meta := e.Meta
			if len(batch) == 0 {
				read = time.Now()
			}
			batch = append(batch, listed{DirEntry: fuse.DirEntry{Name: sessionName(e.Key), Mode: syscall.S_IFREG}, meta: &meta, read: read, gen: gen})
			count++
			if len(batch) == scanBatchEntries {
				d.inodes.listed(count, false)
				if !emit(batch) {
					return context.Canceled
				}
				batch = make([]listed, 0, scanBatchEntries)
			}
			return nil
		})
		if errors.Is(err, store.ErrNoListing) && count == 0 {
			// A store that cannot list (a Memcached without metadump)
			// serves lookups by exact name: the listing is the views.
			if !noListingWarned.Swap(true) {
				d.log.Warn("fusefs: the session store cannot list its sessions; the mount lists none and serves each by its exact name", "err", err)
			}
			err = nil
		}
		if err == nil {
			d.inodes.listed(count, true)
			if len(batch) > 0 {
				emit(batch)
			}
		}
		return err
	}
	return newSessionDirStream(fixed, func(err error) syscall.Errno { return d.errno("readdir", err) }, scan), 0
}
