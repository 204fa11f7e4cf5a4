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
	noXattrWrites

	store  store.Store
	opt    Options
	log    *slog.Logger
	render func(sessionJSON []byte) ([]byte, error) // codec.Pretty; a test may substitute

	// changeMu serialises the changes made through the mount (commits,
	// unlinks, renames): each decides, calls the store and updates the
	// namespace without another change in between. Lookups and listings
	// never take it, so they never wait for a store's I/O (a save's fsyncs).
	changeMu sync.Mutex
	// mu guards ns and every scratch entry's name; it is held only to ask
	// ns or update it, never across a store call. Lock order: changeMu,
	// mu, a node's mu, a handle's mu.
	mu sync.Mutex
	ns namespace // pending creates, backups hiding sessions, scratch files

	views        views
	counters     opCounters
	readVersions readVersions
	inodes       inodeBudget
	buffers      bufferBudget // bytes held for open files (membudget.go)
	renderings   renderings   // what readers read, shared by version
	staleOpens   staleOpens   // opens refused because the name led to an older version
	listings     openListings // open listings of this directory, whose recent metadata answers lookups
	changes      changeGen    // moves at each change through the mount (lockChanges)
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
	d.ownAttr(&out.Attr, syscall.S_IFDIR|0o777)
	return 0
}

// ownAttr fills the attributes every node but a scratch file shares: the
// type and permission bits (minus the umask), the link count a file or
// directory has, and the mount's owner.
func (d *rootDir) ownAttr(out *fuse.Attr, mode uint32) {
	out.Mode = mode&syscall.S_IFMT | d.opt.perm(mode&0o777)
	out.Nlink = 1
	if mode&syscall.S_IFMT == syscall.S_IFDIR {
		out.Nlink = 2
	}
	out.Uid, out.Gid = d.opt.UID, d.opt.GID
}

// fileExtent fills what a file's attributes say of its content: its size,
// its three times (all mt, the one time sessionfs knows) and the block
// size.
func fileExtent(out *fuse.Attr, size uint64, mt time.Time) {
	out.Size = size
	out.SetTimes(&mt, &mt, &mt)
	out.Blksize = 4096
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
