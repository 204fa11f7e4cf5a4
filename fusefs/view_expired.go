package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// expiredDir is .expired: sessions Django's load() would discard, not yet
// cleared (gc). Read-only; rm clears one.
type expiredDir struct {
	viewDir
}

var (
	_ = (fs.NodeLookuper)((*expiredDir)(nil))
	_ = (fs.NodeReaddirer)((*expiredDir)(nil))
	_ = (fs.NodeUnlinker)((*expiredDir)(nil))
)

// Lookup - FUSE call.
func (v *expiredDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (_ *fs.Inode, status syscall.Errno) {
	key, ok := sessionKey(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	return v.root.lookupViewFile(ctx, &v.Inode, name, key, kindExpired, out)
}

// Readdir - FUSE call: one scan.
func (v *expiredDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	return v.root.viewReaddir(ctx, kindExpired, sessionName)
}

// Unlink - FUSE call: clears one expired session, as gc would (a session
// renewed meanwhile is kept: ENOENT).
func (v *expiredDir) Unlink(ctx context.Context, name string) syscall.Errno {
	key, ok := sessionKey(name)
	if !ok {
		return syscall.ENOENT
	}
	return v.root.unlinkViewFile(ctx, key, kindExpired)
}
