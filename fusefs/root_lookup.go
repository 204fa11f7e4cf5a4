package fusefs

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
)

// Lookup - FUSE call. Sessions are looked up in the store (cached metadata,
// no decode unless the backing file changed); other names in the scratch area.
func (d *rootDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (_ *fs.Inode, status syscall.Errno) {
	if d.isView(name) {
		return d.lookupView(ctx, name, out)
	}
	key, isSession := sessionKey(name)
	if !isSession {
		return d.lookupScratch(ctx, name, out)
	}
	return d.lookupSession(ctx, name, key, out, nil, d.listedMeta(name))
}

// listedMeta is name's metadata from an open listing of this directory if
// its scan read it just now and it is still live, else nil (ask the store).
// While the inode budget is spent, ls -l lists names without attributes
// and then looks each up: this answers those lookups without one store
// round trip per name. lookupSession still puts a pending create or a
// backup's hiding first.
func (d *rootDir) listedMeta(name string) *store.Meta {
	now := time.Now()
	m := d.listings.meta(name, now, d.changes.n.Load())
	if m == nil || !d.live(store.Entry{Meta: *m}, now) {
		return nil
	}
	return m
}

// lookupSession answers a lookup of a session name, at the top level or in
// a view (accept, when not nil, says whether the view shows that session):
// a pending create first, then the store's live session. known, when not
// nil, is the session's metadata a listing has just read, so the store need
// not be asked again.
func (d *rootDir) lookupSession(ctx context.Context, name, key string, out *fuse.EntryOut, accept func(store.Meta) bool, known *store.Meta) (*fs.Inode, syscall.Errno) {
	d.mu.Lock()
	pending, hidden := d.ns.lookup(key)
	d.mu.Unlock()
	if pending != nil && accept == nil {
		pending.fillAttr(ctx, &out.Attr) // pending: never cached
		return &pending.Inode, 0
	}
	if hidden {
		return nil, syscall.ENOENT
	}
	var meta store.Meta
	if known != nil {
		meta = *known
	} else {
		m, err := d.liveMeta(ctx, key)
		if err != nil {
			return nil, d.lookupErrno(err)
		}
		meta = m
	}
	if accept != nil && !accept(meta) {
		return nil, syscall.ENOENT
	}
	n := d.sessionChild(ctx, name, key, meta)
	if !n.fillAttrFrom(meta, &out.Attr) {
		// Only a committed session at rest may be cached: a scratch file
		// renamed onto this name later arrives with its own zero timeout.
		out.SetEntryTimeout(d.opt.CacheTimeout)
		out.SetAttrTimeout(d.opt.CacheTimeout)
	}
	return &n.Inode, 0
}

// lookupErrno: a name that is not a live session does not exist, whatever
// the reason (invalid key, undecodable, expired). Other errors are real.
func (d *rootDir) lookupErrno(err error) syscall.Errno {
	e := d.errno("lookup", err)
	if e == syscall.EINVAL || e == syscall.EFBIG {
		return syscall.ENOENT
	}
	return e
}

// liveMeta is store.Stat, with expired sessions reported as not found:
// Django would discard them on load, so the mount does not show them.
func (d *rootDir) liveMeta(ctx context.Context, key string) (store.Meta, error) {
	meta, err := d.store.Stat(ctx, key)
	if err != nil {
		return store.Meta{}, err
	}
	if !d.live(store.Entry{Meta: meta}, time.Now()) {
		return store.Meta{}, store.ErrNotFound
	}
	return meta, nil
}

// sessionChild returns the node the tree already has for name if it is the
// version of key that meta describes (or the node writers are changing),
// else a new sealed node of that version: the name may have been a scratch
// file or a pending create before, or the session changed. The kernel sees
// a new node id for the name and drops its entry; the old node lives on
// for the files open on it until the kernel forgets it.
func (d *rootDir) sessionChild(ctx context.Context, name, key string, meta store.Meta) *sessionNode {
	counted := false
	if ch := d.GetChild(name); ch != nil {
		if n, ok := ch.Operations().(*sessionNode); ok {
			if n.matches(key, meta) {
				if n.reacquired() {
					d.inodes.added(name) // handed back, and the kernel looked it up again before forgetting it
				}
				return n
			}
			// The name's older version: the kernel drops its entry on
			// seeing the new node, so the name stays counted once.
			counted = n.isVersion(key)
		}
	}
	n := &sessionNode{root: d, key: key, sealed: !meta.Version.IsZero(), version: meta.Version, pinned: meta}
	d.NewInode(ctx, n, fs.StableAttr{Mode: syscall.S_IFREG})
	if !counted {
		d.inodes.added(name)
	}
	return n
}
