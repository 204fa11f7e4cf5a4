package fusefs

import (
	"sync"
	"syscall"
	"time"
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
// node for each: `ls -l` of a million sessions would leave a million
// nodes, about a gibibyte. Past the budget, the names looked up longest ago
// are invalidated (FUSE_NOTIFY_INVAL_ENTRY), so the kernel drops them and
// sends FORGET. Nothing is lost: a later access looks the name up again,
// and with a cache timeout of milliseconds a listing re-sends attributes
// anyway.
//
// A directory that fits the budget is held whole: handing names back
// there would only make every listing recreate them (README, Performance).
// A larger one cannot be held anyway, and then the
// budget shrinks to a fifth, to keep a million-session mount small.
type inodeBudget struct {
	max        int
	invalidate func(name string) (absent bool) // asks the kernel to drop a name; may block

	mu      sync.Mutex
	limit   int        // max, or max/bigDirShare once a listing outgrew max (init)
	names   []heldName // oldest first, from head on
	head    int
	running int // goroutines handing names back
}

// init sets the budget up before the mount serves.
func (b *inodeBudget) init(max int, invalidate func(name string) (absent bool)) {
	b.max, b.limit, b.invalidate = max, max, invalidate
}

// added records a session inode the kernel now holds under name.
func (b *inodeBudget) added(name string) {
	if b.max <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.names = append(b.names, heldName{name, time.Now()})
	b.startShrink()
}

// full reports whether the kernel holds as many session inodes as allowed.
func (b *inodeBudget) full() bool {
	if b.max <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.names)-b.head >= b.limit
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
	if len(b.names)-b.head > b.limit && b.running == 0 {
		// Never from the FUSE request itself: the kernel answers the
		// invalidation only once it may lock the directory, which a
		// lookup or listing in progress holds. One at a time: several
		// contend for the directory lock, and the names waiting to be
		// handed back (with their inodes) pile up meanwhile.
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
		held := b.names[b.head]
		b.names[b.head] = heldName{}
		b.head++
		b.mu.Unlock()
		if b.invalidate(held.name) && time.Since(held.added) < attachWait {
			// Recorded by the lookup before go-fuse attached the node
			// or the kernel received the reply: look again shortly.
			b.mu.Lock()
			b.names = append(b.names, held)
			b.mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}
}

// heldName is a name the kernel was given an inode for, and when.
type heldName struct {
	name  string
	added time.Time
}

// attachWait bounds how long a name not (yet) in the directory is looked
// for again: go-fuse attaches a node microseconds after its lookup returns;
// later, an absent name was forgotten by the kernel on its own.
const attachWait = time.Second

// compact drops the consumed front of the queue once it is most of it.
// Caller holds mu.
func (b *inodeBudget) compact() {
	if b.head > len(b.names)/2 {
		b.names = append(b.names[:0:0], b.names[b.head:]...)
		b.head = 0
	}
}

// handBack asks the kernel to drop name if it is still an idle session
// inode of the top directory; an open or pending one stays. absent: no
// such child or kernel entry (forgotten, or not attached or replied yet).
func (d *rootDir) handBack(name string) (absent bool) {
	ch := d.GetChild(name)
	if ch == nil {
		return true
	}
	n, ok := ch.Operations().(*sessionNode)
	if !ok {
		return false
	}
	n.mu.Lock()
	busy := n.state.pending() || len(n.writers) > 0
	if !busy {
		// Marked before the kernel is asked, not after: the kernel may
		// look the name up again the moment it has dropped it, and that
		// lookup must find the mark to count the node anew. A mark left
		// by a failed request only makes a later lookup count a node
		// twice, which hands one back early; never one held uncounted.
		n.dropped = true
	}
	n.mu.Unlock()
	if busy {
		return false
	}
	// ENOENT: the kernel has no such entry: dropped already, or the
	// lookup's reply is still on its way (so: absent, look again shortly).
	// Other errors (unmounted) leave nothing to do.
	return d.NotifyEntry(name) == syscall.ENOENT
}

// reacquired reports, once, that a lookup found n after it was handed back:
// the kernel may have looked the name up again before its FORGET arrived,
// and then holds n anew.
func (n *sessionNode) reacquired() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	was := n.dropped
	n.dropped = false
	return was
}
