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
}

var (
	_ = (fs.NodeGetattrer)((*sessionNode)(nil))
	_ = (fs.NodeSetattrer)((*sessionNode)(nil))
	_ = (fs.NodeOpener)((*sessionNode)(nil))
)

// isCommitted reports whether n is the live store session key.
func (n *sessionNode) isCommitted(key string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.key == key && n.state == stateStored
}

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
// whether the node is busy (pending, or open for writing).
func (n *sessionNode) fillAttrFrom(meta store.Meta, out *fuse.Attr) (busy bool) {
	size := meta.Size
	n.mu.Lock()
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
// just made shows; direct I/O keeps the kernel from serving stale pages.
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

// openFlags is the FOPEN_* reply of an open of h: always direct I/O, so
// every read comes to the mount and is served from the rendering this open
// loaded. Not the page cache: the kernel keeps one size per inode, so a save
// through the mount during a cached read would change it under the reader
// (an empty `cat`). A reader has nothing to commit: skipping its
// FLUSH saves one of the round trips every `cat` costs.
func openFlags(h *sessionHandle) uint32 {
	if h.write {
		return fuse.FOPEN_DIRECT_IO
	}
	return fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH
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
