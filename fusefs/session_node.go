package fusefs

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
)

// sessionNode is <key>.json: a session in the store, or one being created
// through the mount (pending) whose first commit has not happened yet.
type sessionNode struct {
	fs.Inode
	noXattrWrites
	root *rootDir

	mu      sync.Mutex
	key     string
	state   sessionState // changed only by its methods (session_state.go)
	created time.Time    // shown as mtime while pending
	writers []*sessionHandle
	dropped bool // handed back to the kernel (inodebudget.go), not looked up since

	// A node a lookup made for a stored session is one version of it
	// (sealed): its attributes are that version's and never change, so its
	// readers may use the kernel's page cache. A new version of the session
	// gets a new node. A writer or a touch unseals the node for good: from
	// then on it is the session as it changes (attributes from the store,
	// direct I/O), and the next lookup makes a new version node.
	sealed  bool
	version store.Version // the version a sealed node is
	pinned  store.Meta    // that version's metadata
	cachers []procID      // the processes reading it through the page cache, one entry per open
	doc     *rendering    // that version's rendering, held while cachers read it
}

// unsealWait bounds how long a change waits for the processes reading the
// node through the page cache: a page-cache reader sees the file cut if
// the size changes under it, and a cat finishes in milliseconds.
const unsealWait = 2 * time.Second

var (
	_ = (fs.NodeGetattrer)((*sessionNode)(nil))
	_ = (fs.NodeSetattrer)((*sessionNode)(nil))
	_ = (fs.NodeOpener)((*sessionNode)(nil))
)

// snapshot returns the key and the state, under lock.
func (n *sessionNode) snapshot() (key string, state sessionState) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.key, n.state
}

// markGone makes the node's commits fail (ESTALE) instead of resurrecting
// a deleted or replaced session.
func (n *sessionNode) markGone() {
	n.mu.Lock()
	n.state = n.state.removed()
	n.mu.Unlock()
}

// dirtyWriter returns the open writer whose buffer the file's size is, if
// any: one that has written since its last commit. Caller holds n.mu.
func (n *sessionNode) dirtyWriter() *sessionHandle {
	for i := len(n.writers) - 1; i >= 0; i-- {
		if n.writers[i].isDirty() {
			return n.writers[i]
		}
	}
	return nil
}

// Getattr - FUSE call. go-fuse hands over any open handle of the node, not
// necessarily the caller's, so the size comes from the node's writers.
func (n *sessionNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) (status syscall.Errno) {
	busy, e := n.fillAttr(ctx, &out.Attr)
	if e == 0 && !busy {
		out.SetTimeout(n.root.opt.CacheTimeout)
	}
	return e
}

// fillAttr is the one source of a session file's attributes (Lookup and
// Getattr): the store's cached metadata, with the size of an open writer's
// uncommitted buffer if there is one (`>>` and `tail` need the true size).
// busy is true while the node is pending or has an open writer: its
// attributes must not be cached then.
func (n *sessionNode) fillAttr(ctx context.Context, out *fuse.Attr) (busy bool, _ syscall.Errno) {
	n.mu.Lock()
	sealed := n.sealed
	n.mu.Unlock()
	if sealed {
		// One version, even once removed or replaced: its readers keep it,
		// as they keep a file Django replaced in the backing directory.
		return n.fillAttrFrom(store.Meta{}, out), 0
	}
	key, state := n.snapshot()
	if state.gone() {
		return false, syscall.ESTALE
	}
	var meta store.Meta
	if state.pending() {
		n.mu.Lock()
		meta.ModTime = n.created
		n.mu.Unlock()
	} else {
		m, err := n.root.liveMeta(ctx, key)
		if err != nil {
			return false, n.root.lookupErrno(err)
		}
		meta = m
	}
	return n.fillAttrFrom(meta, out), 0
}

// fillAttrFrom fills out from meta and the open writers, and reports
// whether the node is busy (pending, or open for writing). A sealed node's
// attributes are its version's, whatever meta says: an open may have made
// it a newer version since meta was read.
func (n *sessionNode) fillAttrFrom(meta store.Meta, out *fuse.Attr) (busy bool) {
	n.mu.Lock()
	if n.sealed {
		meta = n.pinned
	}
	size := meta.Size
	if w := n.dirtyWriter(); w != nil {
		size = w.size()
	} else if n.state.pending() && len(n.writers) > 0 {
		size = n.writers[len(n.writers)-1].size()
	}
	busy = n.state.pending() || len(n.writers) > 0
	n.mu.Unlock()
	n.root.ownAttr(out, syscall.S_IFREG|0o666)
	fileExtent(out, uint64(size), meta.ModTime)
	return busy
}

// Setattr - FUSE call. A size change goes to the open writer (ftruncate, or
// a handle-less truncate while the file is open): never a commit of its own.
// An mtime change is `touch`: it renews the backing file's mtime, as Django's
// own save would. Mode and owner changes are accepted and ignored, so cp -p,
// vim and emacs, which copy modes, do not fail.
func (n *sessionNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) (status syscall.Errno) {
	if n.root.opt.ReadOnly {
		return syscall.EROFS
	}
	if size, ok := in.GetSize(); ok {
		if e := n.truncate(ctx, f, size); e != 0 {
			return e
		}
	}
	if mtime, ok := in.GetMTime(); ok {
		if e := n.touch(ctx, mtime); e != 0 {
			return e
		}
	}
	_, e := n.fillAttr(ctx, &out.Attr)
	return e
}

func (n *sessionNode) truncate(ctx context.Context, f fs.FileHandle, size uint64) syscall.Errno {
	h, _ := f.(*sessionHandle)
	if h == nil || !h.write {
		n.mu.Lock()
		if len(n.writers) > 0 {
			h = n.writers[len(n.writers)-1]
		}
		n.mu.Unlock()
	}
	if h != nil {
		return h.truncate(size)
	}
	// Nobody has the file open: a truncate on its own could only commit a
	// cut-off document. Accept the no-op, refuse the rest.
	key, state := n.snapshot()
	switch {
	case state.gone():
		return syscall.ESTALE
	case state.pending():
		return syscall.EINVAL
	}
	meta, err := n.root.liveMeta(ctx, key)
	if err != nil {
		return n.root.errno("truncate", err)
	}
	if uint64(meta.Size) == size {
		return 0
	}
	n.root.log.Warn("truncate refused: a session file changes only through an open file", "session", key, "size", size)
	return syscall.EINVAL
}

func (n *sessionNode) touch(ctx context.Context, mtime time.Time) syscall.Errno {
	ctx = uninterruptible(ctx)
	n.unseal(n.root.callerProc(ctx))
	n.mu.Lock()
	key, state := n.key, n.state
	if state.pending() {
		n.created = mtime
	}
	n.mu.Unlock()
	switch {
	case state.gone():
		return syscall.ESTALE
	case state.pending():
		return 0
	}
	d := n.root
	a := d.auditFor(ctx)
	who := d.callerProc(ctx)
	if base := d.baseVersion(who, key); !base.IsZero() {
		saved, err := change.Renew(ctx, d.store, key, mtime, base, a)
		if err == nil {
			// The caller's own touch must not make its next save a conflict.
			d.noteVersion(who, key, saved.Version)
			return 0
		}
		if !errors.Is(err, store.ErrConflict) {
			return d.errno("touch", err)
		}
		// Changed since this process read it: its own touch does not hide that.
	}
	if _, err := change.Renew(ctx, d.store, key, mtime, store.Version{}, a); err != nil {
		return d.errno("touch", err)
	}
	return 0
}

// Open - FUSE call. Every open reads the store afresh, so a change Django
// just made shows: a reader of the version the node is reads through the
// page cache, any other open uses direct I/O.
func (n *sessionNode) Open(ctx context.Context, flags uint32) (_ fs.FileHandle, _ uint32, status syscall.Errno) {
	h, e := n.open(ctx, flags)
	if e != 0 {
		return nil, 0, e
	}
	return h, openFlags(h), 0
}

// open builds the handle for an open (or a create that found the file).
func (n *sessionNode) open(ctx context.Context, flags uint32) (*sessionHandle, syscall.Errno) {
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if write && n.root.opt.ReadOnly {
		return nil, syscall.EROFS
	}
	h := &sessionHandle{node: n, write: write, append: flags&syscall.O_APPEND != 0, max: n.root.opt.MaxSessionSize,
		opener: n.root.callerProc(ctx)}
	if write {
		n.unseal(h.opener)
	}
	key, state := n.snapshot()
	switch {
	case state.gone():
		return nil, syscall.ESTALE
	case state.pending():
		var doc []byte
		n.mu.Lock()
		if len(n.writers) > 0 && flags&syscall.O_TRUNC == 0 {
			doc = n.writers[len(n.writers)-1].snapshot()
		}
		n.mu.Unlock()
		if e := h.hold(doc); e != 0 {
			return nil, e
		}
	case write && flags&syscall.O_TRUNC != 0:
		// With CAP_ATOMIC_O_TRUNC the truncation arrives here: it is a
		// change (`: > KEY.json` must fail at close, not be ignored).
		if _, err := n.root.liveMeta(ctx, key); err != nil {
			return nil, n.root.errno("open", err)
		}
		h.written = true
	default:
		sess, err := n.root.store.Load(ctx, key)
		if err == nil && !n.root.live(store.Entry{Meta: sess.Meta}, time.Now()) {
			err = store.ErrNotFound
		}
		if err != nil {
			return nil, n.root.errno("open", err)
		}
		if write {
			// A writer edits its own copy.
			doc, err := n.root.render(sess.JSON)
			if err != nil {
				return nil, n.root.errno("open", err)
			}
			if e := h.hold(doc); e != 0 {
				return nil, e
			}
		} else {
			doc, e := n.root.acquireRendering(sess)
			if e != 0 {
				return nil, e
			}
			h.doc = doc
			// What the process read is what its next save is checked against.
			v, e := n.cacheIfSealed(h, sess.Meta)
			if e != 0 {
				return nil, e
			}
			sess.Version = v
		}
		n.root.counters.reads.Add(1)
		n.root.noteVersion(h.opener, key, sess.Version)
	}
	if write {
		n.mu.Lock()
		n.writers = append(n.writers, h)
		n.mu.Unlock()
	}
	return h, 0
}

// openFlags is the FOPEN_* reply of an open of h. A reader of the version a
// sealed node is keeps the kernel's page cache (FOPEN_KEEP_CACHE): the node's
// content and size never change, so cached pages are never stale and the
// size never changes under a reader. Every other open uses direct I/O, so
// every read comes to the mount and is served from what this open loaded:
// the kernel keeps one size per inode, and a writer's or a newer version's
// size must not reach the page cache of a node others read. A reader has
// nothing to commit: skipping its FLUSH saves one of the round trips every
// `cat` costs.
func openFlags(h *sessionHandle) uint32 {
	switch {
	case h.write:
		return fuse.FOPEN_DIRECT_IO
	case h.cached:
		return fuse.FOPEN_KEEP_CACHE | fuse.FOPEN_NOFLUSH
	}
	return fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH
}

// cacheIfSealed lets reader h, which loaded version meta, read n through
// the page cache if n is sealed, and returns the version h reads. Every
// open of a sealed node reads the version the node is, so the kernel's one
// size and its cached pages hold for every reader:
//   - meta is n's version: h reads it.
//   - n is another version nobody reads: n becomes meta's version, and the
//     kernel drops n's cached pages and attributes before h reads.
//   - n is another version some process still reads: the open is refused
//     with ESTALE, and the kernel retries it after looking the name up
//     again (a new node, of the store's version). The retry is not refused:
//     if the store changed again meanwhile and its node has readers too, h
//     reads that node's version, the one the retry's lookup found.
//
// A node whose size is not its rendering's stays with direct I/O.
func (n *sessionNode) cacheIfSealed(h *sessionHandle, meta store.Meta) (store.Version, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.sealed || int64(len(h.doc.data)) != meta.Size {
		return meta.Version, 0
	}
	if meta.Version != n.version {
		if n.doc != nil {
			if n.root.staleOpens.refuse(h.opener, n.key) {
				n.root.releaseRendering(h.doc)
				h.doc = nil
				return store.Version{}, syscall.ESTALE
			}
			n.root.releaseRendering(h.doc)
			h.doc = n.root.holdRendering(n.doc)
			meta = n.pinned
		} else {
			// Under n.mu: no open of n may read before the kernel dropped
			// the old version's pages. Nothing the kernel waits for here
			// takes n.mu (reads are served from the handle's rendering).
			if e := n.NotifyContent(0, 0); e != 0 {
				n.root.log.Debug("page cache of a replaced version not dropped; direct I/O from now on", "session", n.key, "errno", e)
				n.sealed = false
				return meta.Version, 0
			}
			n.version, n.pinned = meta.Version, meta
		}
	}
	if n.doc == nil {
		n.doc = n.root.holdRendering(h.doc)
	}
	h.cached = true
	n.cachers = append(n.cachers, h.opener)
	return meta.Version, 0
}

// uncache forgets a page-cache reader's open; the node lets go of its
// version's rendering when the last one closes.
func (n *sessionNode) uncache(h *sessionHandle) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, p := range n.cachers {
		if p == h.opener {
			n.cachers = append(n.cachers[:i], n.cachers[i+1:]...)
			break
		}
	}
	if len(n.cachers) == 0 && n.doc != nil {
		n.root.releaseRendering(n.doc)
		n.doc = nil
	}
}

// unseal makes n the changing session before a change through it (a
// writer's open, a touch): no reader uses the page cache from now on, and
// the change waits until the other processes reading it through the page
// cache have closed it, at most unsealWait. The kernel applies an O_TRUNC
// only after the open is answered, so no size change reaches them before.
// who's own reads are not waited for: `sort -o f f` reads f before it
// truncates it, as on any file system.
func (n *sessionNode) unseal(who procID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sealed = false
	deadline := time.Now().Add(unsealWait)
	for n.otherCachers(who) {
		if time.Now().After(deadline) {
			n.root.log.Warn("a change goes ahead while another process still reads the session through the page cache; it may see the file cut", "session", n.key)
			return
		}
		n.mu.Unlock()
		time.Sleep(time.Millisecond)
		n.mu.Lock()
	}
}

// otherCachers reports whether a process other than who reads n through
// the page cache. Caller holds n.mu.
func (n *sessionNode) otherCachers(who procID) bool {
	for _, p := range n.cachers {
		if p != who {
			return true
		}
	}
	return false
}

// isVersion reports whether n was made by a lookup of key, and counted in
// the inode budget (not handed back since).
func (n *sessionNode) isVersion(key string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.key == key && !n.version.IsZero() && !n.dropped
}

// matches reports whether n is what a lookup that found meta should return
// for key: the sealed node of that version, or the node open writers are
// changing (its size is theirs until they close).
func (n *sessionNode) matches(key string, meta store.Meta) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.key != key || n.state != stateStored {
		return false
	}
	if n.sealed {
		return n.version == meta.Version
	}
	return len(n.writers) > 0
}

// release forgets a writer; a pending create nobody committed disappears.
func (n *sessionNode) release(h *sessionHandle) {
	d := n.root
	d.mu.Lock()
	defer d.mu.Unlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, w := range n.writers {
		if w == h {
			n.writers = append(n.writers[:i], n.writers[i+1:]...)
			break
		}
	}
	if n.state.pending() && len(n.writers) == 0 && d.ns.abandon(n.key, n) {
		n.state = n.state.removed()
	}
}
