package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
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
		return nil, syscall.ENOENT // go-fuse then sends the entry with node id 0: no attributes
	}
	var known *store.Meta
	if h.ds != nil {
		known = h.ds.lastMeta(name)
	}
	return h.d.lookupSession(ctx, name, key, out, nil, known)
}
