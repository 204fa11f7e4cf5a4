// Package fusefs serves a session store as a directory of pretty JSON files:
// one <key>.json file per live session, the ops views (.by-user, .expired,
// .invalid, .stats.json), and an in-memory scratch area for the files
// editors and tools create beside the file they edit (swap, backup and temp
// files).
//
// It owns the namespace rules that make editors work (pending creates,
// backups shadowing a session, rename-to-commit), lost-update tracking per
// process, and the inode budget. Sessions are reached only through the
// store.Store contract, and every change with its audit record through
// store/change, the policy the CLI uses too. Nothing here touches the
// backing directory except Statfs.
package fusefs

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// Defaults of Options.
const (
	DefaultScratchMaxFiles = 256
	DefaultScratchMaxBytes = 64 << 20
	DefaultMaxSessionSize  = store.DefaultMaxSessionSize
	DefaultMaxBufferMemory = 256 << 20
	DefaultUmask           = 0o077
)

// Options configure a mount. The zero value is a private, writable mount.
type Options struct {
	BackingDir      string // shown as the mount's source and used for statfs; may be empty
	ReadOnly        bool   // every change fails with EROFS
	AllowOther      bool   // let other users in (adds default_permissions)
	Debug           bool   // log every FUSE request (go-fuse's debug output, on stderr)
	ScratchMaxFiles int    // scratch entries (editor and temp files) at once; default DefaultScratchMaxFiles
	ScratchMaxBytes int64  // bytes held by scratch entries together; default DefaultScratchMaxBytes
	MaxSessionSize  int64  // largest JSON a session file may be written with; default DefaultMaxSessionSize
	// MaxBufferMemory bounds the bytes held for open files together: the
	// buffers of writers, the scratch area and the renderings readers read
	// (one per session version, shared). Past it, the open or write that
	// would grow them fails with ENOMEM (membudget.go). Default
	// DefaultMaxBufferMemory; negative: no limit.
	MaxBufferMemory int64
	Logger          *slog.Logger
	UID, GID        uint32 // owner shown for every file; default (both zero) the mounting process's
	// Umask clears permission bits from everything the mount shows:
	// directories are 0777 minus it, session files 0666, read-only files
	// (the views) 0444; editor and temp files keep the owner and mode they
	// were created with. nil: DefaultUmask, a mount private to its
	// owner. With AllowOther the kernel checks these bits against UID and
	// GID (default_permissions): GID 33 with umask 0027 lets group 33 read
	// and nobody else in.
	Umask *uint32

	// CacheTimeout is how long the kernel may keep a committed session's
	// name and attributes (size, mtime) without asking again; scratch
	// files, sessions being written and failed lookups always get zero.
	// Content is never cached (direct I/O, loaded afresh at every open).
	// Zero means a size or mtime Django changes shows at once; a few
	// milliseconds cut `ls -l` from three requests per file to one or none
	// (README).
	CacheTimeout time.Duration
	// ReadDirPlus sends the attributes with the listing. With a zero
	// CacheTimeout it only adds work (README, Performance).
	ReadDirPlus bool

	// XAttrs serves the user.sessionfs.* extended attributes (expiry, user,
	// format, key, raw size; the reason on .invalid files). Off, the mount
	// answers extended attribute requests with ENOSYS once and the kernel
	// stops asking: `ls -l` asks every file for two attributes otherwise,
	// a FUSE round trip each that the kernel never caches (README).
	XAttrs bool

	// OverwriteConflicts lets a save replace a session that changed since
	// the saving process read it (--on-conflict=overwrite); by default such
	// a save fails with EIO (conflict.go).
	OverwriteConflicts bool

	// Audit, when not nil, receives one record per change made through the
	// mount, with the caller FUSE names.
	Audit *audit.Logger

	// MaxInodes is how many session files of the top directory the kernel
	// may hold at once; past it, the names looked up longest ago are handed
	// back (inodebudget.go). Default DefaultMaxInodes; negative: no limit.
	MaxInodes int
}

func (o Options) withDefaults() Options {
	if o.ScratchMaxFiles <= 0 {
		o.ScratchMaxFiles = DefaultScratchMaxFiles
	}
	if o.ScratchMaxBytes <= 0 {
		o.ScratchMaxBytes = DefaultScratchMaxBytes
	}
	if o.MaxSessionSize <= 0 {
		o.MaxSessionSize = DefaultMaxSessionSize
	}
	if o.MaxBufferMemory == 0 {
		o.MaxBufferMemory = DefaultMaxBufferMemory
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxInodes == 0 {
		o.MaxInodes = DefaultMaxInodes
	}
	if o.UID == 0 && o.GID == 0 {
		o.UID, o.GID = uint32(os.Getuid()), uint32(os.Getgid())
	}
	if o.Umask == nil {
		u := uint32(DefaultUmask)
		o.Umask = &u
	}
	return o
}

// perm is the permission bits the mount shows for bits (0777, 0666, 0444):
// minus the umask. After withDefaults.
func (o Options) perm(bits uint32) uint32 { return bits &^ *o.Umask & 0o777 }

// NewRoot returns the root directory node of a mount of st.
func NewRoot(st store.Store, opt Options) fs.InodeEmbedder {
	opt = opt.withDefaults()
	d := &rootDir{
		store:  st,
		opt:    opt,
		log:    opt.Logger,
		render: codec.Pretty,
	}
	d.buffers.max, d.buffers.log = opt.MaxBufferMemory, opt.Logger
	d.readVersions.identify, d.readVersions.alive = processIdentity, processAlive
	d.ns = newNamespace(newScratchArea(opt.ScratchMaxFiles, opt.ScratchMaxBytes, &d.buffers))
	d.views.start = time.Now()
	d.inodes.init(opt.MaxInodes, d.handBack)
	return d
}

// FSOptions are the go-fuse options of a mount: zero cache timeouts for
// everything but what Lookup and Getattr set per session (CacheTimeout),
// atomic O_TRUNC (otherwise `cp` and `>` send a handle-less truncate that is
// not a save), and extended attributes only with Options.XAttrs (otherwise
// ENOSYS once, and `ls -l` stops asking for every file).
func FSOptions(opt Options) *fs.Options {
	opt = opt.withDefaults()
	var zero time.Duration // nil would mean go-fuse's 1 s default
	fsOpt := &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		// No default owner (fs.Options.UID/GID): every node fills in its
		// own, and go-fuse would put the default over a root-owned
		// scratch file's uid 0.
		MountOptions: fuse.MountOptions{
			FsName:             opt.BackingDir,
			Name:               "sessionfs",
			AllowOther:         opt.AllowOther,
			Debug:              opt.Debug,
			ExtraCapabilities:  fuse.CAP_ATOMIC_O_TRUNC,
			DisableReadDirPlus: !opt.ReadDirPlus,
			DisableXAttrs:      !opt.XAttrs,
			// go-fuse tries mount(2) itself when it may, else fusermount3.
			DirectMount: os.Geteuid() == 0,
			PanicHandler: func(r any) fuse.Status {
				return panicStatus(opt.Logger, r)
			},
		},
	}
	if opt.ReadDirPlus {
		// Auto: the kernel asks for attributes with the first batch of a
		// listing, and with later ones only while the lister stats what it
		// gets (ls -l). A plain `ls` then makes no inode per session, so
		// listing a million sessions does not hold a million inodes.
		fsOpt.MountOptions.ExtraCapabilities |= fuse.CAP_READDIRPLUS_AUTO
	}
	if fsOpt.MountOptions.FsName == "" {
		fsOpt.MountOptions.FsName = "sessionfs"
	}
	if opt.AllowOther {
		// With other users in, the kernel must check modes itself.
		fsOpt.MountOptions.Options = append(fsOpt.MountOptions.Options, "default_permissions")
	}
	if opt.ReadOnly {
		fsOpt.MountOptions.Options = append(fsOpt.MountOptions.Options, "ro")
	}
	return fsOpt
}

// Mount mounts st at mountpoint and returns once the kernel serves it.
// The caller waits with Server.Wait and unmounts with Server.Unmount.
func Mount(mountpoint string, st store.Store, opt Options) (*fuse.Server, error) {
	srv, err := fs.Mount(mountpoint, NewRoot(st, opt), FSOptions(opt))
	if err != nil {
		return nil, fmt.Errorf("mounting %s: %w", mountpoint, err)
	}
	return srv, nil
}
