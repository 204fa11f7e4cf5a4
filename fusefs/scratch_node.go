package fusefs

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// scratchNode is a scratch entry in the tree. Reads and writes go straight
// to the entry's bytes, shared by every open, like a tmpfs file.
type scratchNode struct {
	fs.Inode
	noXattrWrites
	root  *rootDir
	entry *scratchEntry
}

var (
	_ = (fs.NodeGetattrer)((*scratchNode)(nil))
	_ = (fs.NodeSetattrer)((*scratchNode)(nil))
	_ = (fs.NodeOpener)((*scratchNode)(nil))
	_ = (fs.NodeReader)((*scratchNode)(nil))
	_ = (fs.NodeWriter)((*scratchNode)(nil))
	_ = (fs.NodeFlusher)((*scratchNode)(nil))
	_ = (fs.NodeFsyncer)((*scratchNode)(nil))
	_ = (fs.NodeReadlinker)((*scratchNode)(nil))
)

// lookupScratch finds a scratch name. Caller holds nothing.
func (d *rootDir) lookupScratch(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d.mu.Lock()
	e := d.ns.scratch.byName[name]
	d.mu.Unlock()
	if e == nil {
		return nil, syscall.ENOENT
	}
	n := d.scratchChild(ctx, name, e)
	e.attr(&out.Attr)
	return &n.Inode, 0
}

// scratchChild returns the tree's node for entry e under name, or a new one.
func (d *rootDir) scratchChild(ctx context.Context, name string, e *scratchEntry) *scratchNode {
	if ch := d.GetChild(name); ch != nil {
		if n, ok := ch.Operations().(*scratchNode); ok && n.entry == e {
			return n
		}
	}
	n := &scratchNode{root: d, entry: e}
	mode := uint32(syscall.S_IFREG)
	if e.link {
		mode = syscall.S_IFLNK
	}
	d.NewInode(ctx, n, fs.StableAttr{Mode: mode})
	return n
}

// Getattr - FUSE call.
func (n *scratchNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.entry.attr(&out.Attr)
	return 0
}

// Setattr - FUSE call: size, times and mode are kept; owner changes ignored.
func (n *scratchNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) (status syscall.Errno) {
	if n.root.opt.ReadOnly {
		return syscall.EROFS
	}
	e := n.entry
	if size, ok := in.GetSize(); ok {
		if errno := n.resize(int64(size)); errno != 0 {
			return errno
		}
	}
	e.mu.Lock()
	if mode, ok := in.GetMode(); ok {
		e.mode = mode & 0o7777
	}
	if mtime, ok := in.GetMTime(); ok {
		e.mtime = mtime
	}
	e.mu.Unlock()
	e.attr(&out.Attr)
	return 0
}

// resize sets the entry's length within the limits. A refusal marks the
// entry failed; cutting it to nothing clears that, as nothing of what it
// held is left.
func (n *scratchNode) resize(size int64) syscall.Errno {
	e := n.entry
	e.mu.Lock()
	defer e.mu.Unlock()
	if size > n.root.opt.MaxSessionSize {
		e.failed = syscall.EFBIG
		return syscall.EFBIG
	}
	if e.removed && size > 0 {
		return syscall.ESTALE
	}
	if errno := n.root.ns.scratch.resize(e, int(size)); errno != 0 {
		e.failed = errno
		return errno
	}
	if size == 0 {
		e.failed = 0
	}
	e.mtime, e.dirty = time.Now(), true
	return 0
}

// Open - FUSE call. O_TRUNC arrives here (CAP_ATOMIC_O_TRUNC).
func (n *scratchNode) Open(ctx context.Context, flags uint32) (_ fs.FileHandle, _ uint32, status syscall.Errno) {
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if write && n.root.opt.ReadOnly {
		return nil, 0, syscall.EROFS
	}
	if write && flags&syscall.O_TRUNC != 0 {
		if errno := n.resize(0); errno != 0 {
			return nil, 0, errno
		}
	}
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

// Read - FUSE call.
func (n *scratchNode) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	e := n.entry
	e.mu.Lock()
	defer e.mu.Unlock()
	return readAt(e.data.bytes(), dest, off), 0
}

// Write - FUSE call. The kernel passes O_APPEND writes at the end offset it
// knows; with direct I/O and zero timeouts that is the entry's length.
func (n *scratchNode) Write(ctx context.Context, f fs.FileHandle, data []byte, off int64) (_ uint32, status syscall.Errno) {
	end := off + int64(len(data))
	e := n.entry
	e.mu.Lock()
	defer e.mu.Unlock()
	if end > n.root.opt.MaxSessionSize {
		e.failed = syscall.EFBIG
		return 0, syscall.EFBIG
	}
	if e.removed {
		return 0, syscall.ESTALE
	}
	if end > int64(e.data.len()) {
		if errno := n.root.ns.scratch.resize(e, int(end)); errno != 0 {
			e.failed = errno
			return 0, errno
		}
	}
	copy(e.data.bytes()[off:], data)
	e.mtime, e.dirty = time.Now(), true
	return uint32(len(data)), 0
}

// Flush - FUSE call: scratch files are committed only by a rename onto a
// session name.
func (n *scratchNode) Flush(ctx context.Context, f fs.FileHandle) syscall.Errno { return 0 }

// Fsync - FUSE call.
func (n *scratchNode) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	return 0
}

// Readlink - FUSE call.
func (n *scratchNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if !n.entry.link {
		return nil, syscall.EINVAL
	}
	return []byte(n.entry.target), 0
}
