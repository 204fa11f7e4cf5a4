package filestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sessionfs/sessionfs/store"
)

// Save encodes sessionJSON and writes it as key's backing file by Django's
// save path: with MustCreate an O_EXCL placeholder first (ErrExists if the
// key is taken), then a temp file "<prefix><key>_out_<random>" in the same
// directory, written, fsynced, renamed over the target, and the directory
// fsynced (both fsyncs skipped with Config.NoFsync). Without MustCreate a
// missing file is created (Django 1.10+ would raise UpdateError;
// sessionfs's put creates or replaces). A planted symlink, directory or
// fifo under the name is refused with ErrNotRegular. The new file keeps
// the owner, group and mode of the file it replaces (filePerms), and with
// KeepExpiry its mtime, from which Django counts the session's age. An
// encoded session larger than Config.MaxFileSize, which no read would
// accept, is refused with ErrTooLarge.
//
// Nothing touches the directory until the encode has succeeded, and every
// error path removes the temp file (and a placeholder this call created).
func (s *FileStore) Save(ctx context.Context, key string, sessionJSON []byte, opt store.SaveOptions) (store.Saved, error) {
	if err := s.checkKey(key); err != nil {
		return store.Saved{}, err
	}
	data, err := s.codec.Encode(sessionJSON, opt.Encoding(s.cfg.Encode))
	if err != nil {
		return store.Saved{}, fmt.Errorf("session %s: encoding: %w", key, err)
	}
	if err := s.checkFileSize(key, data); err != nil {
		return store.Saved{}, err
	}
	// Decoding what was just encoded gives the exact Info (compression,
	// key) and the canonical JSON the Meta is computed from.
	decoded, info, err := s.codec.Decode(data)
	if err != nil {
		return store.Saved{}, fmt.Errorf("session %s: encoded session does not decode: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return store.Saved{}, err
	}
	meta := store.Meta{Key: key, RawSize: int64(len(data))}
	if opt.DryRun {
		meta.ModTime = s.cfg.Now()
		if err := s.fillMeta(&meta, decoded, info); err != nil {
			return store.Saved{}, err
		}
		return store.Saved{Session: store.Session{Meta: meta, JSON: decoded}, Raw: data}, nil
	}
	w, err := s.writeFile(key, data, writeOptions{
		mustCreate: opt.MustCreate, ifMatch: opt.IfMatch, keepModTime: opt.KeepExpiry, readBefore: opt.ReportBefore,
	}, nil)
	if err != nil {
		return store.Saved{}, err
	}
	meta = w.id.meta(key)
	if err := s.fillMeta(&meta, decoded, info); err != nil {
		s.cache.invalidate(key)
		return store.Saved{}, err
	}
	s.remember(key, meta, nil)
	saved := store.Saved{Session: store.Session{Meta: meta, JSON: decoded}, Raw: data, Created: w.created}
	if opt.ReportBefore && w.before != nil {
		saved.Before = w.before
		saved.BeforeJSON, _, _ = s.decodeFile(key, fileID{}, w.before)
	}
	return saved, nil
}

// checkFileSize refuses to write a file larger than any read of it would
// accept (readRaw's Config.MaxFileSize): such a save would succeed and
// leave a session that can no longer be shown, edited or verified.
func (s *FileStore) checkFileSize(key string, data []byte) error {
	if int64(len(data)) > s.cfg.MaxFileSize {
		return fmt.Errorf("session %s: %w: the encoded session is %d bytes, over the %d-byte limit of a session file",
			key, store.ErrTooLarge, len(data), s.cfg.MaxFileSize)
	}
	return nil
}

// writeOptions are the file-level choices of a write.
type writeOptions struct {
	mustCreate  bool
	ifMatch     store.Version // not zero: ErrConflict unless the file replaced is this version
	keepModTime bool          // the new file gets the mtime of the file it replaces
	modTime     time.Time     // if set, the new file gets this mtime (a re-keyed session keeps its own)
	readBefore  bool          // read the bytes of the file replaced (written.before)
}

// written is what a writeFile did.
type written struct {
	id      fileID // the new file's
	created bool   // no file was replaced
	before  []byte // with readBefore, the bytes replaced (nil: none, or too large to read)
}

// writeFile replaces key's backing file with data (the save path described
// at Save). The new file gets the owner and mode of the file it replaces,
// or with mustCreate like's when given (a re-keyed session keeps its
// file's), else the directory's (filePerms).
func (s *FileStore) writeFile(key string, data []byte, opt writeOptions, like *filePerms) (written, error) {
	if err := s.checkFileSize(key, data); err != nil {
		return written{}, err
	}
	s.cache.invalidate(key)
	target := s.path(key)
	var placeholder *fileID
	var perms filePerms
	if opt.mustCreate {
		if like != nil {
			perms = *like
		} else {
			p, err := s.newFilePerms()
			if err != nil {
				return written{}, fmt.Errorf("session %s: %w", key, err)
			}
			perms = p
		}
		id, err := s.createPlaceholder(key, perms)
		if err != nil {
			return written{}, err
		}
		placeholder = &id
	} else {
		p, err := s.replacePerms(key)
		if err != nil {
			return written{}, err
		}
		perms = p
	}
	w, err := s.writeAndRename(key, target, data, opt, perms)
	if err != nil {
		if placeholder != nil {
			s.removePlaceholder(key, *placeholder)
		}
		return written{}, err
	}
	if opt.mustCreate {
		w.created, w.before = true, nil
	}
	return w, nil
}

// createPlaceholder makes the empty file Django's save(must_create=True)
// makes with O_CREAT|O_EXCL: it claims the key, and Django's load() reads
// it as an empty session. It gets perms at once: Django may open it
// (and must be able to) before the save replaces it.
func (s *FileStore) createPlaceholder(key string, perms filePerms) (fileID, error) {
	fd, err := unix.Open(s.path(key), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fileID{}, fmt.Errorf("session %s: %w", key, store.ErrExists)
		}
		return fileID{}, fmt.Errorf("session %s: creating placeholder: %w", key, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileID{}, fmt.Errorf("session %s: stat placeholder: %w", key, err)
	}
	if err := perms.apply(fd); err != nil {
		s.removePlaceholder(key, statID(&st))
		return fileID{}, fmt.Errorf("session %s: placeholder: %w", key, err)
	}
	return statID(&st), nil
}

// removePlaceholder undoes createPlaceholder after a failed save, but only
// while the file is still the empty one this call made: Django may have
// written the session meanwhile.
func (s *FileStore) removePlaceholder(key string, placeholder fileID) {
	id, err := s.lstatKey(key)
	if err == nil && id.ino == placeholder.ino && id.size == 0 {
		_ = os.Remove(s.path(key)) // best effort: the save error is what the caller needs
	}
}

// replacePerms is what the new version of key's file gets: the owner and
// mode of the file it replaces, or the directory's for a new session.
// Anything but a regular file (or nothing) under the name is refused: a
// planted symlink or fifo is left for the operator to inspect.
func (s *FileStore) replacePerms(key string) (filePerms, error) {
	st, err := s.lstatRaw(key)
	switch {
	case err == nil:
		return permsOfStat(&st), nil
	case !errors.Is(err, store.ErrNotFound):
		return filePerms{}, err
	}
	p, err := s.newFilePerms()
	if err != nil {
		return filePerms{}, fmt.Errorf("session %s: %w", key, err)
	}
	return p, nil
}

// writeAndRename writes data to a fresh temp file beside target, with
// perms, and renames it over target. The temp file never survives an error.
//
// Just before the rename the file being replaced is looked at once (the
// replaced method): the IfMatch check, the mtime a kept expiry needs and
// the bytes the caller asked for all come from that one look, so they
// describe the same version.
//
// The temp file is locked (flock) from its creation until it is closed
// after the rename, and its mtime is only set to the mtime to keep once it
// is the session file: gc removes a temp file only when it is old and no
// one holds its lock (removeStaleTemp), so a save in flight never loses its
// temp file, even one stalled in fsync. The mtime is set through the
// descriptor, so a save Django renames over the name meanwhile is never
// touched. Between the rename and that, a reader sees the new content with
// the current time as mtime: the session looks renewed for that moment,
// never expired early.
func (s *FileStore) writeAndRename(key, target string, data []byte, opt writeOptions, perms filePerms) (w written, err error) {
	tmp, err := os.CreateTemp(s.cfg.Dir, s.fileName(key)+tempInfix+"*")
	if err != nil {
		return written{}, fmt.Errorf("session %s: creating temp file: %w", key, err)
	}
	tmpName := tmp.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = tmp.Close()
			if rmErr := os.Remove(tmpName); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("removing temp file: %w", rmErr))
			}
		}
	}()
	fd := int(tmp.Fd())
	// Where the file system has no locks, the fresh mtime alone marks the
	// temp file as in use.
	_ = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	if err := perms.apply(fd); err != nil {
		return written{}, fmt.Errorf("session %s: %w", key, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return written{}, fmt.Errorf("session %s: writing temp file: %w", key, err)
	}
	if !s.cfg.NoFsync {
		if err := tmp.Sync(); err != nil {
			return written{}, fmt.Errorf("session %s: fsync temp file: %w", key, err)
		}
		if s.hooks.synced != nil {
			s.hooks.synced("file")
		}
	}
	modTime := opt.modTime
	if !opt.mustCreate {
		cur, err := s.replaced(key, opt.readBefore)
		if err != nil {
			return written{}, err
		}
		if !opt.ifMatch.IsZero() && (!cur.exists || cur.id.version() != opt.ifMatch) {
			return written{}, fmt.Errorf("session %s: %w", key, store.ErrConflict)
		}
		if opt.keepModTime && cur.exists {
			modTime = cur.id.modTime
		}
		w.created, w.before = !cur.exists, cur.data
	}
	if s.hooks.beforeRename != nil {
		if err := s.hooks.beforeRename(tmpName); err != nil {
			return written{}, fmt.Errorf("session %s: %w", key, err)
		}
	}
	if err := os.Rename(tmpName, target); err != nil {
		return written{}, fmt.Errorf("session %s: renaming temp file into place: %w", key, err)
	}
	renamed = true
	var st unix.Stat_t
	if !modTime.IsZero() {
		if err = futimens(fd, modTime); err != nil {
			err = fmt.Errorf("session %s: saved, but setting its mtime: %w", key, err)
		}
	}
	if err == nil {
		if err = unix.Fstat(fd, &st); err != nil {
			err = fmt.Errorf("session %s: saved, but stat: %w", key, err)
		}
	}
	if closeErr := tmp.Close(); closeErr != nil && err == nil {
		err = fmt.Errorf("session %s: closing: %w", key, closeErr)
	}
	if err != nil {
		return written{}, err
	}
	if !s.cfg.NoFsync {
		if err := s.syncDir(); err != nil {
			return written{}, fmt.Errorf("session %s: %w", key, err)
		}
	}
	w.id = statID(&st)
	return w, nil
}

// current is the file a save is about to replace, as replaced found it.
type current struct {
	exists bool
	id     fileID
	data   []byte // when read, and not over the size bound
}

// replaced looks at key's file just before a save replaces it: its
// identity, and with read its bytes, from one descriptor. A file over the
// size bound is there, unread; anything but a regular file is refused.
func (s *FileStore) replaced(key string, read bool) (current, error) {
	if !read {
		id, err := s.lstatKey(key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return current{}, nil
		case err != nil:
			return current{}, err
		}
		return current{exists: true, id: id}, nil
	}
	data, id, err := s.readRaw(key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return current{}, nil
	case errors.Is(err, store.ErrTooLarge):
		return current{exists: true, id: id}, nil
	case err != nil:
		return current{}, err
	}
	return current{exists: true, id: id, data: data}, nil
}

// futimens sets the mtime of the open file fd (atime unchanged), to the
// nanosecond: utimensat with a NULL path acts on dirfd itself, which is
// how glibc implements futimens.
func futimens(fd int, mtime time.Time) error {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(mtime.UnixNano())}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// syncDir makes a rename or unlink in the session directory durable.
func (s *FileStore) syncDir() error {
	d, err := os.Open(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("opening directory for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	if s.hooks.synced != nil {
		s.hooks.synced("dir")
	}
	return nil
}
