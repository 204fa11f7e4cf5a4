package fusefs

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// listedMetaFresh bounds how old a listing's metadata may be to answer a
// lookup in place of the store. Using it is safe: an open re-checks the
// store's version before it reads, and a listing followed by a stat of each
// name (ls -l) shows a snapshot whatever the mount answers; changes made
// through the mount are excluded by changeGen, not by this bound.
const listedMetaFresh = time.Second

// recentListedBatches is how many of a listing's batches answer lookups:
// the one go-fuse is reading and the one before, which the kernel may have
// handed to the lister in the same getdents.
const recentListedBatches = 2

// openListings are the top directory's open listings, so that the
// separate LOOKUP the kernel sends for a name listed without attributes (the
// inode budget is spent) is answered from the metadata the listing's scan
// has just read, not by asking the store once per name. Each holds only its
// last few batches.
type openListings struct {
	mu sync.Mutex
	m  map[*sessionDirStream]struct{}
}

func (l *openListings) add(ds *sessionDirStream) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[*sessionDirStream]struct{}{}
	}
	l.m[ds] = struct{}{}
}

func (l *openListings) remove(ds *sessionDirStream) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, ds)
}

// meta is a copy of name's metadata from an open listing's recent batches,
// read less than listedMetaFresh before now while no change went through
// the mount (gen is the mount's change generation now), or nil.
func (l *openListings) meta(name string, now time.Time, gen uint64) *store.Meta {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ds := range l.m {
		if !ds.recent.omitted.Load() {
			continue // every name it listed came with attributes: no lookups follow from it
		}
		if m := ds.recent.meta(name, now, gen); m != nil {
			return m
		}
	}
	return nil
}

// recentBatches are the last batches a listing's reader took from its scan.
type recentBatches struct {
	// omitted is set once the listing has sent a name without attributes
	// (the inode budget was spent): only such a listing is searched, so a
	// lookup beside an ordinary listing costs no search.
	omitted atomic.Bool
	mu      sync.Mutex
	batches [recentListedBatches][]listed
	next    int
}

func (r *recentBatches) push(batch []listed) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches[r.next] = batch
	r.next = (r.next + 1) % len(r.batches)
}

func (r *recentBatches) meta(name string, now time.Time, gen uint64) *store.Meta {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, batch := range r.batches {
		for i := range batch {
			e := &batch[i]
			if e.Name != name || e.meta == nil {
				continue
			}
			if e.gen != gen || now.Sub(e.read) >= listedMetaFresh || now.Before(e.read) {
				return nil
			}
			m := *e.meta
			return &m
		}
	}
	return nil
}

// changeGen counts the changes made through the mount: it moves when a
// change starts and when it ends, so metadata a scan read while it stayed
// the same predates no change the mount made.
type changeGen struct{ n atomic.Uint64 }

// lockChanges takes changeMu for a change through the mount and returns
// the function that releases it.
func (d *rootDir) lockChanges() (unlock func()) {
	d.changeMu.Lock()
	d.changes.n.Add(1)
	return func() {
		d.changes.n.Add(1)
		d.changeMu.Unlock()
	}
}
