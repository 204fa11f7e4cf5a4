package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/fusefs"
	"github.com/sessionfs/sessionfs/metrics"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// mountCommand is `sessionfs mount`.
func mountCommand() *cli.Command {
	return &cli.Command{
		Name:      "mount",
		Usage:     "serve the sessions as <key>.json files at MOUNTPOINT, in the foreground, until Ctrl-C or umount",
		ArgsUsage: "MOUNTPOINT",
		Flags:     mountFlags(),
		Action:    mountAction,
	}
}

// umountCommand is `sessionfs umount`.
func umountCommand() *cli.Command {
	return &cli.Command{
		Name:      "umount",
		Usage:     "unmount a sessionfs mount point (from another shell)",
		ArgsUsage: "MOUNTPOINT",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: flagLazy, Usage: "detach now even if busy or if the serving process is gone (fusermount3 -u -z)"},
		},
		Action: umountAction,
	}
}

// Mount flag names.
const (
	flagReadOnly        = "read-only"
	flagAllowOther      = "allow-other"
	flagLogFormat       = "log-format"
	flagDebug           = "debug"
	flagForce           = "force"
	flagScratchMaxFiles = "scratch-max-files"
	flagScratchMaxBytes = "scratch-max-bytes"
	flagCacheTimeout    = "cache-timeout"
	flagReadDirPlus     = "readdirplus"
	flagMaxInodes       = "max-inodes"
	flagLazy            = "lazy"
	flagXAttrs          = "xattrs"
	flagOnConflict      = "on-conflict"
	flagUID             = "uid"
	flagGID             = "gid"
	flagUmask           = "umask"
	flagMaxBufferMemory = "max-buffer-memory"
)

// defaultCacheTimeout is how long the kernel may keep a session's name, size
// and mtime: long enough that `ls -l` of a directory is served from a few
// FUSE requests (with readdirplus) instead of three per file, short enough
// that a size or mtime Django changes is stale only briefly. Content is
// never cached.
const defaultCacheTimeout = 10 * time.Millisecond

// readyLine starts the line mount prints on stdout once the kernel serves
// the mount point: scripts and tests wait for it.
const readyLine = "sessionfs: mounted"

func mountFlags() []cli.Flag {
	return []cli.Flag{
		metricsFlag(),
		&cli.BoolFlag{Name: flagReadOnly, EnvVars: []string{"SESSIONFS_READ_ONLY"},
			Usage: "refuse every change (EROFS)"},
		&cli.BoolFlag{Name: flagAllowOther, EnvVars: []string{"SESSIONFS_ALLOW_OTHER"},
			Usage: "let other users in, as --uid, --gid and --umask allow (the kernel checks them: default_permissions); e.g. --gid www-data's gid --umask 0027 lets the web server's group read; needs root, or user_allow_other in /etc/fuse.conf"},
		&cli.IntFlag{Name: flagUID, EnvVars: []string{"SESSIONFS_UID"}, Value: -1, DefaultText: "the mounting user's",
			Usage: "owner every session file and directory of the mount shows"},
		&cli.IntFlag{Name: flagGID, EnvVars: []string{"SESSIONFS_GID"}, Value: -1, DefaultText: "the mounting user's",
			Usage: "group every session file and directory of the mount shows"},
		&cli.StringFlag{Name: flagUmask, EnvVars: []string{"SESSIONFS_UMASK"}, Value: "0077",
			Usage: "permission bits (octal) taken from what the mount shows: directories 0777, session files 0666, read-only files 0444, minus these; 0077 lets only the owner in, 0027 also lets the group read"},
		&cli.Int64Flag{Name: flagMaxBufferMemory, EnvVars: []string{"SESSIONFS_MAX_BUFFER_MEMORY"}, Value: fusefs.DefaultMaxBufferMemory,
			Usage: "most bytes files open on the mount hold in memory together: writers' buffers, editor/temp files, what readers read (one copy per session version); past it, the open or write fails with ENOMEM; -1: no limit"},
		&cli.StringFlag{Name: flagLogFormat, EnvVars: []string{"SESSIONFS_LOG_FORMAT"}, Value: "text",
			Usage: "log format on stderr: text or json"},
		&cli.BoolFlag{Name: flagDebug, EnvVars: []string{"SESSIONFS_DEBUG"},
			Usage: "log every FUSE request and reply (go-fuse's debug output)"},
		&cli.BoolFlag{Name: flagForce,
			Usage: "recover a mount point left broken by a killed process, or take over a mounted one (lazy unmount first)"},
		&cli.IntFlag{Name: flagScratchMaxFiles, EnvVars: []string{"SESSIONFS_SCRATCH_MAX_FILES"}, Value: fusefs.DefaultScratchMaxFiles,
			Usage: "most editor/temp files kept in memory at once (more: ENOSPC)"},
		&cli.Int64Flag{Name: flagScratchMaxBytes, EnvVars: []string{"SESSIONFS_SCRATCH_MAX_BYTES"}, Value: fusefs.DefaultScratchMaxBytes,
			Usage: "most bytes editor/temp files hold together (more: ENOSPC)"},
		&cli.DurationFlag{Name: flagCacheTimeout, EnvVars: []string{"SESSIONFS_CACHE_TIMEOUT"}, Value: defaultCacheTimeout,
			Usage: "how long the kernel may keep a session's name, size and mtime (content is always loaded afresh at open); 0: Django's changes show at once, at three FUSE requests per file for ls -l"},
		&cli.BoolFlag{Name: flagReadDirPlus, EnvVars: []string{"SESSIONFS_READDIRPLUS"}, Value: true,
			Usage: "send attributes with directory listings (pays off only with --cache-timeout > 0; --readdirplus=false to disable)"},
		&cli.IntFlag{Name: flagMaxInodes, EnvVars: []string{"SESSIONFS_MAX_INODES"}, Value: fusefs.DefaultMaxInodes,
			Usage: "most session files the kernel may hold at once; past it the longest-unused are handed back (memory stays bounded on huge directories); -1: no limit"},
		&cli.BoolFlag{Name: flagXAttrs, EnvVars: []string{"SESSIONFS_XATTRS"},
			Usage: "serve user.sessionfs.* extended attributes (expires, user_id, format, key, raw_size; error on .invalid files); off, ls -l skips two FUSE round trips per file"},
		&cli.StringFlag{Name: flagOnConflict, EnvVars: []string{"SESSIONFS_ON_CONFLICT"}, Value: "refuse",
			Usage: "a save by a process that read the session before it changed (Django saved meanwhile): refuse (EIO at close, logged) or overwrite"},
	}
}

// newLogger builds the process logger from --log-format.
func newLogger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	switch f := c.String(flagLogFormat); f {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	default:
		return nil, usageErrorf("--%s must be text or json, not %q", flagLogFormat, f)
	}
}

func mountAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageErrorf("usage: sessionfs mount [flags] MOUNTPOINT")
	}
	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer st.Close()
	return serve(c, st, c.Args().First(), "")
}

// serve mounts st at mountpoint and blocks until it is unmounted: by a
// signal here, or by umount from another shell. banner is printed once the
// mount is ready.
func serve(c *cli.Context, st store.Store, mountpoint, banner string) error {
	log, err := newLogger(c, os.Stderr)
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	backing := st.Describe().Dir
	mnt, err := checkMountpoint(mountpoint, localDir(st), c.Bool(flagForce), log)
	if err != nil {
		return err
	}
	overwrite, err := onConflictOverwrite(c.String(flagOnConflict))
	if err != nil {
		return err
	}
	uid, gid, umask, err := mountOwner(c)
	if err != nil {
		return err
	}
	auditLog, err := openAuditLog(c)
	if err != nil {
		return err
	}
	defer auditLog.Close()
	opt := fusefs.Options{
		Audit:              auditLog,
		XAttrs:             c.Bool(flagXAttrs),
		OverwriteConflicts: overwrite,
		BackingDir:         backing,
		ReadOnly:           c.Bool(flagReadOnly),
		AllowOther:         c.Bool(flagAllowOther),
		Debug:              c.Bool(flagDebug),
		ScratchMaxFiles:    c.Int(flagScratchMaxFiles),
		ScratchMaxBytes:    c.Int64(flagScratchMaxBytes),
		MaxBufferMemory:    c.Int64(flagMaxBufferMemory),
		UID:                uid,
		GID:                gid,
		Umask:              &umask,
		Logger:             log,
		CacheTimeout:       c.Duration(flagCacheTimeout),
		ReadDirPlus:        c.Bool(flagReadDirPlus),
		MaxInodes:          c.Int(flagMaxInodes),
	}
	// --metrics-addr: store operations counted and timed, session gauges from Stats.
	met, err := startMetrics(c, func(ctx context.Context) (store.Stats, error) { return st.Stats(ctx, nil) })
	if err != nil {
		return fmt.Errorf("--%s: %w", flagMetricsAddr, err)
	}
	var served store.Store = st
	if met != nil {
		served = metrics.InstrumentStore(st, met)
	}
	if err := syscall.Access("/dev/fuse", 6 /* R_OK|W_OK */); err != nil {
		return fmt.Errorf("cannot use /dev/fuse: %w (install fuse3; in a container pass --device /dev/fuse)", err)
	}
	srv, err := fusefs.Mount(mnt, served, opt)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, mountHint(err))
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		log.Info("unmounting", "signal", sig.String(), "mountpoint", mnt)
		unmountServer(srv, mnt, log)
	}()

	log.Info("mounted", "mountpoint", mnt, "backing", st.Describe().Location, "read_only", opt.ReadOnly, "allow_other", opt.AllowOther,
		"uid", uid, "gid", gid, "umask", fmt.Sprintf("%04o", umask), "max_buffer_memory", opt.MaxBufferMemory,
		"xattrs", opt.XAttrs, "audit_log", settingString(c, flagAuditLog))
	switch others := umask&0o077 != 0o077; {
	case opt.AllowOther && !others:
		log.Warn("--allow-other with --umask "+fmt.Sprintf("%04o", umask)+" lets no other user in: only the owner and root can enter; "+
			"give the other user's group with --gid and --umask 0027 (read) or 0007 (read and write)", "uid", uid, "gid", gid)
	case !opt.AllowOther && others:
		log.Warn("--umask " + fmt.Sprintf("%04o", umask) + " opens the mount to its group or others, but without --allow-other the kernel lets only the mounting user in")
	}
	fmt.Printf("%s %s at %s (stop: Ctrl-C, or sessionfs umount %s)\n", readyLine, st.Describe().Location, mnt, mnt)
	if banner != "" {
		fmt.Print(banner)
	}
	srv.Wait()
	log.Info("unmounted", "mountpoint", mnt)
	return nil
}

// mountOwner parses --uid, --gid and --umask: the owner, group and
// permission bits the mount presents (the mounting user's by default).
func mountOwner(c *cli.Context) (uid, gid, umask uint32, err error) {
	id := func(flag string, def int) (uint32, error) {
		v := c.Int(flag)
		switch {
		case v == -1:
			return uint32(def), nil
		case v < 0 || v >= 1<<32-1:
			return 0, usageErrorf("--%s must be a numeric id (0 to 4294967294), not %d", flag, v)
		}
		return uint32(v), nil
	}
	if uid, err = id(flagUID, os.Getuid()); err != nil {
		return 0, 0, 0, err
	}
	if gid, err = id(flagGID, os.Getgid()); err != nil {
		return 0, 0, 0, err
	}
	u, perr := strconv.ParseUint(c.String(flagUmask), 8, 32)
	if perr != nil || u > 0o777 {
		return 0, 0, 0, usageErrorf("--%s must be octal permission bits (0000 to 0777), not %q", flagUmask, c.String(flagUmask))
	}
	return uid, gid, uint32(u), nil
}

// onConflictOverwrite parses --on-conflict.
func onConflictOverwrite(v string) (bool, error) {
	switch v {
	case "refuse", "":
		return false, nil
	case "overwrite":
		return true, nil
	}
	return false, usageErrorf("--%s must be refuse or overwrite, not %q", flagOnConflict, v)
}

// unmountServer asks the kernel to unmount; if files are still open there
// it detaches lazily, so a signal always ends the process.
func unmountServer(srv *fuse.Server, mnt string, log *slog.Logger) {
	for i := 0; i < 3; i++ {
		err := srv.Unmount()
		if err == nil {
			return
		}
		log.Warn("unmount failed, retrying", "err", err)
		time.Sleep(200 * time.Millisecond)
	}
	if err := lazyUnmount(mnt); err != nil {
		log.Error("lazy unmount failed", "err", err)
	}
}

// lazyUnmount detaches mnt even if busy or if its server is gone.
func lazyUnmount(mnt string) error {
	if os.Geteuid() == 0 {
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err == nil {
			return nil
		}
	}
	out, err := exec.Command(fusermount(), "-u", "-z", mnt).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3 -u -z %s: %w: %s", mnt, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func fusermount() string {
	if p, err := exec.LookPath("fusermount3"); err == nil {
		return p
	}
	return "fusermount"
}

// checkMountpoint returns the absolute mount point after refusing what
// cannot work: a mount point inside the backing directory (or the other way
// round: the store would read through its own mount), a missing directory,
// and a mount point already mounted or left broken by a killed process,
// which --force recovers with a lazy unmount, but only when what is mounted
// there is (or was) a sessionfs mount: another file system's mount is
// never detached.
func checkMountpoint(mountpoint, backing string, force bool, log *slog.Logger) (string, error) {
	mnt, err := canonicalMountpoint(mountpoint)
	if err != nil {
		return "", err
	}
	cur, mounted, err := mountAt(mnt)
	if err != nil {
		return "", err
	}
	_, statErr := os.Stat(mnt)
	broken := errors.Is(statErr, syscall.ENOTCONN)
	switch {
	case mounted && !cur.sessionfs():
		return "", fmt.Errorf("%s is a mount point of %s, not of sessionfs: sessionfs neither mounts over it "+
			"nor detaches it (--force only replaces a sessionfs mount); choose another directory", mnt, cur)
	case (broken || mounted) && force:
		log.Warn("detaching the previous mount", "mountpoint", mnt, "broken", broken)
		if err := lazyUnmount(mnt); err != nil {
			return "", err
		}
		_, statErr = os.Stat(mnt)
	case broken:
		return "", fmt.Errorf("mount point %s is broken (transport endpoint is not connected): "+
			"the process serving it was killed. Run `sessionfs umount --lazy %s` (or fusermount3 -u -z %s), "+
			"or mount again with --force", mnt, mnt, mnt)
	case mounted:
		return "", fmt.Errorf("%s is already a mount point: unmount it first (sessionfs umount %s) or use --force", mnt, mnt)
	}
	if statErr != nil {
		return "", fmt.Errorf("mount point: %w (create the directory first)", statErr)
	}
	realMnt, err := filepath.EvalSymlinks(mnt)
	if err != nil {
		return "", fmt.Errorf("mount point: %w", err)
	}
	if backing == "" {
		return mnt, nil
	}
	realBacking, err := filepath.EvalSymlinks(backing)
	if err != nil {
		return "", fmt.Errorf("backing directory: %w", err)
	}
	if within(realMnt, realBacking) || within(realBacking, realMnt) {
		return "", usageErrorf("mount point %s and backing directory %s must not contain each other", mnt, backing)
	}
	return mnt, nil
}

// localDir is the local directory the store's sessions are in, which the
// mount point must neither be in nor hold: the file backend's directory, or
// the one of a SQLite file (whose connections open it again by name, which
// through the mount itself would never answer). "" for a server.
func localDir(st store.Store) string {
	if d := st.Describe().Dir; d != "" {
		return d
	}
	if db, ok := st.(*dbstore.Sessions); ok && db.DB().Config().Engine == dbstore.SQLite {
		return filepath.Dir(db.DB().Config().Name)
	}
	return ""
}

// canonicalMountpoint is the absolute path of a mount point as
// /proc/self/mountinfo spells it: symlinks resolved. The parent directory
// is resolved, not the mount point itself, which may be a broken mount
// (ENOTCONN) or a symlink to one.
func canonicalMountpoint(mountpoint string) (string, error) {
	mnt, err := filepath.Abs(mountpoint)
	if err != nil {
		return "", fmt.Errorf("mount point %s: %w", mountpoint, err)
	}
	if fi, err := os.Lstat(mnt); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if real, err := filepath.EvalSymlinks(mnt); err == nil {
			return real, nil
		}
	}
	if parent, err := filepath.EvalSymlinks(filepath.Dir(mnt)); err == nil {
		return filepath.Join(parent, filepath.Base(mnt)), nil
	}
	return mnt, nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// sessionfsType is the file system type of a sessionfs mount in
// /proc/self/mountinfo: "fuse." and go-fuse's MountOptions.Name.
const sessionfsType = "fuse.sessionfs"

// mountEntry is a mount as /proc/self/mountinfo describes it.
type mountEntry struct {
	fsType string // "fuse.sessionfs", "tmpfs", "ext4"...
	source string // for sessionfs, the backing directory
}

// sessionfs reports whether the mount is (or, at a broken mount point, was)
// a sessionfs mount.
func (m mountEntry) sessionfs() bool { return m.fsType == sessionfsType }

func (m mountEntry) String() string { return fmt.Sprintf("%s (source %s)", m.fsType, m.source) }

// mountAt returns the mount at mnt that a path lookup sees (the last one
// mounted there), from /proc/self/mountinfo: stat would hang or fail on a
// broken one. ok is false when mnt is not a mount point.
func mountAt(mnt string) (m mountEntry, ok bool, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return m, false, fmt.Errorf("reading the mount table: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || unescapeMountinfo(fields[4]) != mnt {
			continue
		}
		for i := 5; i+2 < len(fields); i++ {
			if fields[i] == "-" {
				m, ok = mountEntry{fsType: unescapeMountinfo(fields[i+1]), source: unescapeMountinfo(fields[i+2])}, true
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		return mountEntry{}, false, fmt.Errorf("reading the mount table: %w", err)
	}
	return m, ok, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for space) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountHint explains the usual reasons a mount fails.
func mountHint(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no such file") && strings.Contains(msg, "fusermount"):
		return "hint: install fuse3 (apt-get install fuse3), which provides fusermount3"
	case strings.Contains(msg, "/dev/fuse"):
		return "hint: /dev/fuse is missing or not accessible (containers: --device /dev/fuse --cap-add SYS_ADMIN)"
	case strings.Contains(msg, "allow_other"):
		return "hint: --allow-other needs root or user_allow_other in /etc/fuse.conf"
	}
	return "hint: run with --debug for go-fuse's log"
}

func umountAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageErrorf("usage: sessionfs umount [--lazy] MOUNTPOINT")
	}
	mnt, err := canonicalMountpoint(c.Args().First())
	if err != nil {
		return err
	}
	cur, mounted, err := mountAt(mnt)
	switch {
	case err != nil:
		return err
	case !mounted:
		return fmt.Errorf("%s is not mounted", mnt)
	case !cur.sessionfs():
		return fmt.Errorf("%s is a mount point of %s, not of sessionfs: sessionfs umount leaves it alone (umount(8) unmounts anything)", mnt, cur)
	}
	if c.Bool(flagLazy) {
		return lazyUnmount(mnt)
	}
	if os.Geteuid() == 0 {
		if err := syscall.Unmount(mnt, 0); err == nil {
			return nil
		}
	}
	out, err := exec.Command(fusermount(), "-u", mnt).CombinedOutput()
	if err != nil {
		return fmt.Errorf("unmounting %s: %s (files open there? close them, or use --lazy)", mnt, strings.TrimSpace(string(out)))
	}
	return nil
}
