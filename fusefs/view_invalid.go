package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// invalidDir is .invalid: backing files that do not decode (bad
// signature, corrupt), named by key, showing their raw bytes; rm removes one.
type invalidDir struct {
	viewDir
}

var (
	_ = (fs.NodeLookuper)((*invalidDir)(nil))
	_ = (fs.NodeReaddirer)((*invalidDir)(nil))
	_ = (fs.NodeUnlinker)((*invalidDir)(nil))
)

// Lookup - FUSE call.
func (v *invalidDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (_ *fs.Inode, status syscall.Errno) {
	return v.root.lookupViewFile(ctx, &v.Inode, name, name, kindInvalid, out)
}

// Readdir - FUSE call: one scan.
func (v *invalidDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	return v.root.viewReaddir(ctx, kindInvalid, func(key string) string { return key })
}

// Unlink - FUSE call: removes the backing file, if it still does not decode.
func (v *invalidDir) Unlink(ctx context.Context, name string) syscall.Errno {
	return v.root.unlinkViewFile(ctx, name, kindInvalid)
}
