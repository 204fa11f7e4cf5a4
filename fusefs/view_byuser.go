package fusefs

import (
	"context"
	"sort"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
)

// byUserDir is .by-user: one directory per logged-in user (the
// _auth_user_id of a live session).
type byUserDir struct {
	viewDir
}

// userDir is .by-user/<id>: that user's live sessions, the same files as
// at the top level. Removing them logs the user out everywhere.
type userDir struct {
	viewDir
	id string
}

var (
	_ = (fs.NodeLookuper)((*byUserDir)(nil))
	_ = (fs.NodeReaddirer)((*byUserDir)(nil))
	_ = (fs.NodeRmdirer)((*byUserDir)(nil))
	_ = (fs.NodeLookuper)((*userDir)(nil))
	_ = (fs.NodeReaddirer)((*userDir)(nil))
	_ = (fs.NodeUnlinker)((*userDir)(nil))
)

// Lookup - FUSE call. Within indexMaxAge of a listing the listing's users
// answer; otherwise one scan (from the store's metadata cache).
func (v *byUserDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (_ *fs.Inode, status syscall.Errno) {
	d := v.root
	if !validDirName(name) {
		return nil, syscall.ENOENT
	}
	d.viewDirAttr(&out.Attr)
	if ch := v.GetChild(name); ch != nil {
		if _, ok := ch.Operations().(*userDir); ok {
			// Known to the kernel: stays, empty once the user's sessions
			// are gone, until rmdir (the last step of `rm -r`, which must
			// find it) or the kernel forgets it. Listings show only users
			// with sessions.
			return ch, 0
		}
	}
	ok, err := d.hasUser(ctx, name)
	if err != nil {
		return nil, d.errno("lookup", err)
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	u := &userDir{viewDir: viewDir{root: d}, id: name}
	return v.NewInode(ctx, u, fs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

// Readdir - FUSE call: one scan, sorted by user id.
func (v *byUserDir) Readdir(ctx context.Context) (_ fs.DirStream, status syscall.Errno) {
	d := v.root
	users, err := d.userCounts(ctx)
	if err != nil {
		return nil, d.errno("readdir", err)
	}
	ids := make([]string, 0, len(users))
	for id := range users {
		if validDirName(id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	entries := make([]fuse.DirEntry, len(ids))
	for i, id := range ids {
		entries[i] = fuse.DirEntry{Name: id, Mode: syscall.S_IFDIR}
	}
	return fs.NewListDirStream(entries), 0
}

// Rmdir - FUSE call: the last step of `rm -r .by-user/42`. A user without
// sessions has no directory, so once the files are gone it vanishes; if
// the user logged in again meanwhile, the directory is not empty.
func (v *byUserDir) Rmdir(ctx context.Context, name string) (status syscall.Errno) {
	d := v.root
	if d.opt.ReadOnly {
		return syscall.EROFS
	}
	users, err := d.userCounts(ctx)
	if err != nil {
		return d.errno("rmdir", err)
	}
	if users[name] > 0 {
		return syscall.ENOTEMPTY
	}
	return 0
}

// Lookup - FUSE call: a session of this user, the same node as at the top
// level when the kernel knows it there.
func (u *userDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (_ *fs.Inode, status syscall.Errno) {
	d := u.root
	key, ok := sessionKey(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	return d.lookupSession(ctx, name, key, out, func(m store.Meta) bool { return m.UserID == u.id }, nil)
}

// Readdir - FUSE call: one scan.
func (u *userDir) Readdir(ctx context.Context) (_ fs.DirStream, status syscall.Errno) {
	d := u.root
	hidden := d.shadowedKeys()
	var entries []fuse.DirEntry
	err := d.liveScan(ctx, func(e store.Entry) {
		if e.UserID == u.id && !hidden[e.Key] {
			entries = append(entries, fuse.DirEntry{Name: sessionName(e.Key), Mode: syscall.S_IFREG})
		}
	})
	if err != nil {
		return nil, d.errno("readdir", err)
	}
	return fs.NewListDirStream(entries), 0
}

// Unlink - FUSE call: deletes the session, if it still belongs to this
// user when the file is removed (a new login under the same key is kept).
func (u *userDir) Unlink(ctx context.Context, name string) (status syscall.Errno) {
	d := u.root
	if d.opt.ReadOnly {
		return syscall.EROFS
	}
	key, ok := sessionKey(name)
	if !ok {
		return syscall.ENOENT
	}
	defer d.lockChanges()()
	d.mu.Lock()
	busy := d.ns.busy(key)
	d.mu.Unlock()
	if busy {
		return syscall.EBUSY // being edited at the top level
	}
	e := d.removeSession(ctx, key, "user "+u.id, func(e store.Entry) bool {
		return e.Err == nil && e.UserID == u.id
	})
	if e == 0 {
		markGone(&u.Inode, name)
	}
	return e
}

// shadowedKeys are the keys hidden behind an editor's backup rename.
func (d *rootDir) shadowedKeys() map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ns.hidden(false)
}
