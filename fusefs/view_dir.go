package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// viewDir is what every view directory shares: it is computed from the
// store, so nothing can be created or renamed in it (EPERM, or EROFS on a
// read-only mount); only removals, which each view defines, change it.
type viewDir struct {
	fs.Inode
	noXattrWrites
	root *rootDir
}

var (
	_ = (fs.NodeGetattrer)((*viewDir)(nil))
	_ = (fs.NodeSetattrer)((*viewDir)(nil))
	_ = (fs.NodeCreater)((*viewDir)(nil))
	_ = (fs.NodeMkdirer)((*viewDir)(nil))
	_ = (fs.NodeMknoder)((*viewDir)(nil))
	_ = (fs.NodeLinker)((*viewDir)(nil))
	_ = (fs.NodeSymlinker)((*viewDir)(nil))
	_ = (fs.NodeRenamer)((*viewDir)(nil))
	_ = (fs.NodeFsyncer)((*viewDir)(nil))
	_ = (fs.NodeSetxattrer)((*viewDir)(nil))
	_ = (fs.NodeRemovexattrer)((*viewDir)(nil))
)

// Getattr - FUSE call.
func (v *viewDir) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	v.root.viewDirAttr(&out.Attr)
	return 0
}

// Setattr - FUSE call: accepted and ignored, as on the root.
func (v *viewDir) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if v.root.opt.ReadOnly {
		return syscall.EROFS
	}
	return v.Getattr(ctx, f, out)
}

// Create - FUSE call: sessions are created at the top level.
func (v *viewDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, v.root.refuseView("create", name)
}

// Mkdir - FUSE call.
func (v *viewDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, v.root.refuseView("mkdir", name)
}

// Mknod - FUSE call.
func (v *viewDir) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, v.root.refuseView("mknod", name)
}

// Link - FUSE call.
func (v *viewDir) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, v.root.refuseView("link", name)
}

// Symlink - FUSE call.
func (v *viewDir) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, v.root.refuseView("symlink", name)
}

// Rename - FUSE call: re-key sessions at the top level.
func (v *viewDir) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return v.root.refuseView("rename", name)
}

// Fsync - FUSE call (FSYNCDIR).
func (v *viewDir) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno { return 0 }

// validDirName reports whether s can be a directory entry name: user ids
// are Django primary keys (numbers, UUIDs), but a custom user model could
// use any text.
func validDirName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == 0 {
			return false
		}
	}
	return true
}
