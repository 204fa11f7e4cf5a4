package fusefs

import (
	"sync"
)

// DefaultMaxInodes is how many session files of the top directory the
// kernel may hold at once before the oldest are handed back (Options).
const DefaultMaxInodes = 100_000

// bigDirShare: in a directory of more sessions than the budget, where a
// listing would only cycle through it, the kernel keeps a fifth of it.
const bigDirShare = 5

// inodeBudget bounds how many session inodes the kernel holds. The kernel
// keeps every name it has looked up (and every entry a readdirplus sent)
// until memory pressure, whatever the cache timeouts, and go-fuse keeps a
// node for each: after `ls -l` of a million sessions that was a million
// nodes, about a gibibyte. Past the budget, the names looked up longest ago
// are invalidated (FUSE_NOTIFY_INVAL_ENTRY), so the kernel drops them and
// sends FORGET. Nothing is lost: a later access looks the name up again,
// and with a cache timeout of milliseconds a listing re-sends attributes
// anyway.
//
// A directory that fits the budget is held whole: handing names back
// there would only make every listing recreate them (measured: warm `ls
// -l` of 100,000 sessions 2.2× the backing directory held whole, 3.6× at a
// budget of 50,000). A larger one cannot be held anyway, and then the
// budget shrinks to a fifth, to keep a million-session mount small.
type inodeBudget struct {
	max        int
	invalidate func(name string) // asks the kernel to drop a name; may block

	mu      sync.Mutex
	limit   int      // max, or max/bigDirShare once a listing outgrew max
	names   []string // oldest first, from head on
	head    int
	running int // goroutines handing names back
}

// added records a session inode the kernel now holds under name.
func (b *inodeBudget) added(name string) {
	if b.max <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.names = append(b.names, name)
	b.startShrink()
}

// full reports whether the kernel holds as many session inodes as allowed.
func (b *inodeBudget) full() bool {
	if b.max <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	limit := b.limit
	if limit == 0 {
		limit = b.max
	}
	return len(b.names)-b.head >= limit
}

// listed records that a listing has counted n sessions so far (done: all
// of them). The limit shrinks as soon as a listing outgrows the budget,
// and grows back only when a whole listing fits it.
func (b *inodeBudget) listed(n int, done bool) {
	if b.max <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	limit := b.limit
	switch {
	case n > b.max:
		limit = max(1, b.max/bigDirShare)
	case done:
		limit = b.max
	}
	if limit != b.limit {
		b.limit = limit
		b.startShrink()
	}
}

// startShrink hands names back in the background when over the limit.
// Caller holds mu.
func (b *inodeBudget) startShrink() {
	if b.limit == 0 {
		b.limit = b.max
	}
	if len(b.names)-b.head > b.limit && b.running == 0 {
		// Never from the FUSE request itself: the kernel answers the
		// invalidation only once it may lock the directory, which a
		// lookup or listing in progress holds. One at a time: four
		// contended for the directory lock and kept a million-session
		// `ls -l` at 760 MiB where one kept it at 170 MiB.
		b.running++
		go b.shrink()
	}
}

// shrink invalidates the oldest names until the budget holds again.
func (b *inodeBudget) shrink() {
	for {
		b.mu.Lock()
		if len(b.names)-b.head <= b.limit {
			b.running--
			b.compact()
			b.mu.Unlock()
			return
		}
		name := b.names[b.head]
		b.names[b.head] = ""
		b.head++
		b.mu.Unlock()
		b.invalidate(name)
	}
}

// compact drops the consumed front of the queue once it is most of it.
// Caller holds mu.
func (b *inodeBudget) compact() {
	if b.head > len(b.names)/2 {
		b.names = append(b.names[:0:0], b.names[b.head:]...)
		b.head = 0
	}
}

// handBack asks the kernel to drop name if it is still an idle session
// inode of the top directory; an open or pending one stays.
func (d *rootDir) handBack(name string) {
	ch := d.GetChild(name)
	if ch == nil {
		return // forgotten already
	}
	n, ok := ch.Operations().(*sessionNode)
	if !ok {
		return
	}
	n.mu.Lock()
	busy := n.pending || len(n.writers) > 0 || n.pc.readers > 0
	n.mu.Unlock()
	if busy {
		return
	}
	// ENOENT: the kernel had dropped it already. Other errors (unmounted)
	// leave nothing to do either.
	_ = d.NotifyEntry(name)
}
