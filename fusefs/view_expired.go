package fusefs

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
)

// expiredDir is .expired: sessions Django's load() would discard, not yet
// cleared (gc). Read-only; rm clears one.
type expiredDir struct {
	viewDir
}

// invalidDir is .invalid: backing files that do not decode (bad
// signature, corrupt), named by key, showing their raw bytes; rm removes one.
type invalidDir struct {
	viewDir
}

var (
	_ = (fs.NodeLookuper)((*expiredDir)(nil))
	_ = (fs.NodeReaddirer)((*expiredDir)(nil))
	_ = (fs.NodeUnlinker)((*expiredDir)(nil))
	_ = (fs.NodeLookuper)((*invalidDir)(nil))
	_ = (fs.NodeReaddirer)((*invalidDir)(nil))
	_ = (fs.NodeUnlinker)((*invalidDir)(nil))
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

// lookupViewFile answers a lookup in .expired or .invalid.
func (d *rootDir) lookupViewFile(ctx context.Context, parent *fs.Inode, name, key string, kind viewKind, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	e, errno := d.viewEntry(ctx, key, kind)
	if errno != 0 {
		return nil, errno
	}
	d.viewFileAttr(e, kind, &out.Attr)
	// As for sessions at rest: `ls -l` of the view costs one request per
	// file or none, instead of three; content is still read at each open.
	out.SetEntryTimeout(d.opt.CacheTimeout)
	out.SetAttrTimeout(d.opt.CacheTimeout)
	if ch := parent.GetChild(name); ch != nil {
		if v, ok := ch.Operations().(*viewFile); ok && v.kind == kind && v.key == key {
			return ch, 0
		}
	}
	return parent.NewInode(ctx, &viewFile{root: d, key: key, kind: kind}, fs.StableAttr{Mode: syscall.S_IFREG}), 0
}

// viewReaddir lists the entries of view kind, named by name(key).
func (d *rootDir) viewReaddir(ctx context.Context, kind viewKind, name func(string) string) (_ fs.DirStream, status syscall.Errno) {
	now := time.Now()
	var entries []fuse.DirEntry
	err := d.store.Scan(ctx, func(e store.Entry) error {
		if inView(d, e, kind, now) {
			entries = append(entries, fuse.DirEntry{Name: name(e.Key), Mode: syscall.S_IFREG})
		}
		return nil
	})
	if err != nil {
		return nil, d.errno("readdir", err)
	}
	return fs.NewListDirStream(entries), 0
}

// unlinkViewFile removes key's backing file if it still belongs to view kind.
func (d *rootDir) unlinkViewFile(ctx context.Context, key string, kind viewKind) (status syscall.Errno) {
	if d.opt.ReadOnly {
		return syscall.EROFS
	}
	d.changeMu.Lock()
	defer d.changeMu.Unlock()
	why := map[viewKind]string{kindExpired: viewExpired, kindInvalid: viewInvalid}[kind]
	return d.removeSession(ctx, key, why, func(e store.Entry) bool {
		return inView(d, e, kind, time.Now())
	})
}
