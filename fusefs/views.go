package fusefs

import (
	"context"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
)

// The hidden entries of the root. They start with '.', so they are never
// session names (sessionKey) and shell globs such as *.json skip them.
const (
	viewByUser  = ".by-user"
	viewExpired = ".expired"
	viewInvalid = ".invalid"
	viewStats   = ".stats.json"
)

// indexMaxAge bounds how long a lookup of .by-user/<id> may trust the last
// scan's list of users. Listings always scan afresh; only lookups (one per
// user with readdirplus) reuse it, so `ls .by-user` costs one scan, not one
// per user.
const indexMaxAge = time.Second

// views holds the nodes of the hidden entries, made once per mount.
type views struct {
	once  sync.Once
	nodes map[string]*fs.Inode
	start time.Time // shown as the views' mtime

	mu      sync.Mutex
	users   map[string]int // logged-in user id -> live sessions, from the last scan
	usersAt time.Time      // when users was computed; zero: never
	stats   []byte         // last rendering of .stats.json, for a stat without an open
	statsAt time.Time
}

// isView reports whether name is one of the hidden entries.
func (d *rootDir) isView(name string) bool {
	switch name {
	case viewByUser, viewExpired, viewInvalid, viewStats:
		return true
	}
	return false
}

// viewNode returns the node of a hidden entry, making them all at first use.
func (d *rootDir) viewNode(ctx context.Context, name string) *fs.Inode {
	d.views.once.Do(func() {
		dir := fs.StableAttr{Mode: syscall.S_IFDIR}
		d.views.nodes = map[string]*fs.Inode{
			viewByUser:  d.NewPersistentInode(ctx, &byUserDir{viewDir{root: d}}, dir),
			viewExpired: d.NewPersistentInode(ctx, &expiredDir{viewDir{root: d}}, dir),
			viewInvalid: d.NewPersistentInode(ctx, &invalidDir{viewDir{root: d}}, dir),
			viewStats:   d.NewPersistentInode(ctx, &statsFile{root: d}, fs.StableAttr{Mode: syscall.S_IFREG}),
		}
	})
	return d.views.nodes[name]
}

// lookupView answers a lookup of a hidden entry.
func (d *rootDir) lookupView(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ino := d.viewNode(ctx, name)
	if sf, ok := ino.Operations().(*statsFile); ok {
		// With readdirplus every listing of the root looks this up: no
		// scan here. The size is the last rendering's (0 before any), and
		// not cached, so a stat asks Getattr, which renders.
		sf.cheapAttr(&out.Attr)
		return ino, 0
	}
	ga, ok := ino.Operations().(fs.NodeGetattrer)
	if !ok {
		return nil, syscall.EIO
	}
	var aout fuse.AttrOut
	if e := ga.Getattr(ctx, nil, &aout); e != 0 {
		return nil, e
	}
	out.Attr = aout.Attr
	return ino, 0
}

// viewDirEntries are the hidden entries in a root listing.
func (d *rootDir) viewDirEntries() []fuse.DirEntry {
	return []fuse.DirEntry{
		{Name: viewByUser, Mode: syscall.S_IFDIR},
		{Name: viewExpired, Mode: syscall.S_IFDIR},
		{Name: viewInvalid, Mode: syscall.S_IFDIR},
		{Name: viewStats, Mode: syscall.S_IFREG},
	}
}

// viewDirAttr fills the attributes of a view directory, as the root's
// (write: removals are allowed, creations refused by the operations
// themselves).
func (d *rootDir) viewDirAttr(out *fuse.Attr) {
	d.ownAttr(out, syscall.S_IFDIR|0o777)
	mt := d.views.start
	out.SetTimes(&mt, &mt, &mt)
}

// refuseView is the answer to creating, renaming or removing a hidden
// entry as a whole: they are part of the mount, not files.
func (d *rootDir) refuseView(op, name string) syscall.Errno {
	if d.opt.ReadOnly {
		return syscall.EROFS
	}
	d.log.Warn(op+" refused: a sessionfs view, not a file", "name", name)
	return syscall.EPERM
}

// liveScan calls fn for every live session (decodable, not expired), as
// the top level lists them.
func (d *rootDir) liveScan(ctx context.Context, fn func(store.Entry)) error {
	now := time.Now()
	return d.store.Scan(ctx, func(e store.Entry) error {
		if d.live(e, now) {
			fn(e)
		}
		return nil
	})
}

// userCounts scans for the logged-in users and remembers the result for
// lookups.
func (d *rootDir) userCounts(ctx context.Context) (map[string]int, error) {
	users := map[string]int{}
	err := d.liveScan(ctx, func(e store.Entry) {
		if e.UserID != "" {
			users[e.UserID]++
		}
	})
	if err != nil {
		return nil, err
	}
	d.views.mu.Lock()
	d.views.users, d.views.usersAt = users, time.Now()
	d.views.mu.Unlock()
	return users, nil
}

// hasUser reports whether id has a live session, from the last scan when
// it is recent enough, else from a new one.
func (d *rootDir) hasUser(ctx context.Context, id string) (bool, error) {
	d.views.mu.Lock()
	users, at := d.views.users, d.views.usersAt
	d.views.mu.Unlock()
	if users == nil || time.Since(at) > indexMaxAge {
		var err error
		if users, err = d.userCounts(ctx); err != nil {
			return false, err
		}
	}
	return users[id] > 0, nil
}

// forgetUsers drops the remembered user list after a removal, so the next
// lookup scans again.
func (d *rootDir) forgetUsers() {
	d.views.mu.Lock()
	d.views.users = nil
	d.views.mu.Unlock()
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
	defer d.lockChanges()()
	why := map[viewKind]string{kindExpired: viewExpired, kindInvalid: viewInvalid}[kind]
	return d.removeSession(ctx, key, why, func(e store.Entry) bool {
		return inView(d, e, kind, time.Now())
	})
}
