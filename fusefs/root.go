package fusefs

import (
	"context"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
)

// rootDir is the mount's only directory.
type rootDir struct {
	fs.Inode

	store  store.Store
	opt    Options
	log    *slog.Logger
	render func(sessionJSON []byte) ([]byte, error) // codec.Pretty; a test may substitute

	// changeMu serialises the changes made through the mount (commits,
	// unlinks, renames): each decides, calls the store and updates the
	// namespace without another change in between. Lookups and listings
	// never take it, so they never wait for a store's I/O (a save's fsyncs).
	changeMu sync.Mutex
	// mu guards the maps below and every scratch entry's name; it is held
	// only to read or update them, never across a store call. Lock order:
	// changeMu, mu, a node's mu, a handle's mu.
	mu      sync.Mutex
	scratch *scratchArea
	// pending holds sessions created through the mount and not yet saved:
	// the name exists for the writer (and for stat) before the first commit.
	pending map[string]*sessionNode
	// shadow holds keys renamed onto a scratch name (an editor's backup
	// "KEY.json -> KEY.json~"). The name is hidden from the mount, but the
	// backing session stays until a commit replaces it or the backup is
	// unlinked: Django never finds it missing in between.
	shadow map[string]*scratchEntry

	views        views
	counters     opCounters
	readVersions readVersions
	inodes       inodeBudget
	buffers      bufferBudget // bytes held for open files (membudget.go)
	renderings   renderings   // what readers read, shared by version
}

var (
	_ = (fs.NodeLookuper)((*rootDir)(nil))
	_ = (fs.NodeOpendirHandler)((*rootDir)(nil))
	_ = (fs.NodeGetattrer)((*rootDir)(nil))
	_ = (fs.NodeSetattrer)((*rootDir)(nil))
	_ = (fs.NodeStatfser)((*rootDir)(nil))
	_ = (fs.NodeFsyncer)((*rootDir)(nil))
	_ = (fs.NodeCreater)((*rootDir)(nil))
	_ = (fs.NodeUnlinker)((*rootDir)(nil))
	_ = (fs.NodeRenamer)((*rootDir)(nil))
	_ = (fs.NodeSymlinker)((*rootDir)(nil))
	_ = (fs.NodeMkdirer)((*rootDir)(nil))
	_ = (fs.NodeMknoder)((*rootDir)(nil))
	_ = (fs.NodeLinker)((*rootDir)(nil))
	_ = (fs.NodeRmdirer)((*rootDir)(nil))
)

// Getattr - FUSE call. The root is private to its owner unless the umask
// lets others in (Options.Umask).
func (d *rootDir) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | d.opt.perm(0o777)
	out.Nlink = 2
	out.Uid, out.Gid = d.opt.UID, d.opt.GID
	return 0
}

// Setattr - FUSE call. chmod/chown/utimes of the mount point are accepted and
// ignored, so tools that copy modes do not fail.
func (d *rootDir) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if d.opt.ReadOnly {
		return syscall.EROFS
	}
	return d.Getattr(ctx, f, out)
}

// Statfs - FUSE call: the backing directory's file system, so df and tools
// checking free space see the disk saves go to.
func (d *rootDir) Statfs(ctx context.Context, out *fuse.StatfsOut) (status syscall.Errno) {
	if d.opt.BackingDir == "" {
		return 0
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.opt.BackingDir, &st); err != nil {
		return d.errno("statfs", err)
	}
	out.FromStatfsT(&st)
	return 0
}

// Fsync - FUSE call (FSYNCDIR). Every commit is already durable when it
// returns; without this, editors' directory fsync gets ENOTSUP.
func (d *rootDir) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	return 0
}

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
	return d.lookupSession(ctx, name, key, out, nil, nil)
}

// lookupSession answers a lookup of a session name, at the top level or in
// a view (accept, when not nil, says whether the view shows that session):
// a pending create first, then the store's live session. known, when not
// nil, is the session's metadata a listing has just read, so the store need
// not be asked again.
func (d *rootDir) lookupSession(ctx context.Context, name, key string, out *fuse.EntryOut, accept func(store.Meta) bool, known *store.Meta) (*fs.Inode, syscall.Errno) {
	d.mu.Lock()
	if n := d.pending[key]; n != nil && accept == nil {
		d.mu.Unlock()
		n.fillAttr(ctx, &out.Attr) // pending: never cached
		return &n.Inode, 0
	}
	_, hidden := d.shadow[key]
	d.mu.Unlock()
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
	n := d.sessionChild(ctx, name, key)
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
	if meta.Expired(time.Now()) {
		return store.Meta{}, store.ErrNotFound
	}
	return meta, nil
}

// sessionChild returns the node the tree already has for name if it is the
// committed session key, else a new one (the name may have been a scratch
// file or a pending create before).
func (d *rootDir) sessionChild(ctx context.Context, name, key string) *sessionNode {
	if ch := d.GetChild(name); ch != nil {
		if n, ok := ch.Operations().(*sessionNode); ok && n.isCommitted(key) {
			if n.reacquired() {
				d.inodes.added(name) // handed back, and the kernel looked it up again before forgetting it
			}
			return n
		}
	}
	n := &sessionNode{root: d, key: key}
	d.NewInode(ctx, n, fs.StableAttr{Mode: syscall.S_IFREG})
	d.inodes.added(name)
	return n
}

// listing is the top directory's listing: every live session, minus keys
// hidden by an editor's backup rename, plus sessions being created, the
// scratch files and the views.
func (d *rootDir) listing(ctx context.Context) (_ *sessionDirStream, status syscall.Errno) {
	d.mu.Lock()
	hidden := make(map[string]bool, len(d.shadow))
	for key := range d.shadow {
		hidden[key] = true
	}
	var entries []fuse.DirEntry
	for key := range d.pending {
		hidden[key] = true // listed once, below
		entries = append(entries, fuse.DirEntry{Name: sessionName(key), Mode: syscall.S_IFREG})
	}
	entries = append(entries, d.scratch.dirEntries()...)
	d.mu.Unlock()
	entries = append(entries, d.viewDirEntries()...)
	fixed := make([]listed, len(entries))
	for i, e := range entries {
		fixed[i] = listed{DirEntry: e}
	}

	scan := func(ctx context.Context, emit func([]listed) bool) error {
		now := time.Now()
		batch := make([]listed, 0, scanBatchEntries)
		count := 0
		err := d.store.Scan(ctx, func(e store.Entry) error {
			if e.Err != nil || e.Expired(now) || hidden[e.Key] {
				return nil
			}
			meta := e.Meta
			batch = append(batch, listed{DirEntry: fuse.DirEntry{Name: sessionName(e.Key), Mode: syscall.S_IFREG}, meta: &meta})
			count++
			if len(batch) == scanBatchEntries {
				d.inodes.listed(count, false)
				if !emit(batch) {
					return context.Canceled
				}
				batch = make([]listed, 0, scanBatchEntries)
			}
			return nil
		})
		if err == nil {
			d.inodes.listed(count, true)
			if len(batch) > 0 {
				emit(batch)
			}
		}
		return err
	}
	return newSessionDirStream(fixed, func(err error) syscall.Errno { return d.errno("readdir", err) }, scan), 0
}

// Mkdir - FUSE call: sessions are flat files.
func (d *rootDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, d.refuse(syscall.EPERM)
}

// Mknod - FUSE call: no devices, fifos or sockets.
func (d *rootDir) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, d.refuse(syscall.EPERM)
}

// Link - FUSE call: a session has exactly one name.
func (d *rootDir) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, d.refuse(syscall.EPERM)
}

// Rmdir - FUSE call: the only directories are the views, part of the mount.
func (d *rootDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	if d.isView(name) {
		return d.refuseView("rmdir", name)
	}
	// The kernel looked the name up first: it exists, and is no directory.
	return d.refuse(syscall.ENOTDIR)
}

// refuse returns EROFS on a read-only mount, else e.
func (d *rootDir) refuse(e syscall.Errno) syscall.Errno {
	if d.opt.ReadOnly {
		return syscall.EROFS
	}
	return e
}
