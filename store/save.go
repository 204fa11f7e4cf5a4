package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Save encodes sessionJSON and writes it as key's backing file by Django's
// save path: with MustCreate an O_EXCL placeholder first (ErrExists if the
// key is taken), then a temp file "<prefix><key>_out_<random>" (0600) in the
// same directory, written, fsynced, renamed over the target, and the
// directory fsynced (both fsyncs skipped with Config.NoFsync). Without
// MustCreate a missing file is created (Django 1.10+ would raise
// UpdateError; sessionfs's put creates or replaces). A planted symlink,
// directory or fifo under the name is refused with ErrNotRegular.
//
// Nothing touches the directory until the encode has succeeded, and every
// error path removes the temp file (and a placeholder this call created).
func (s *FileStore) Save(ctx context.Context, key string, sessionJSON []byte, opt SaveOptions) (Meta, error) {
	if err := s.checkKey(key); err != nil {
		return Meta{}, err
	}
	data, err := s.codec.Encode(sessionJSON, s.cfg.Encode)
	if err != nil {
		return Meta{}, fmt.Errorf("session %s: encoding: %w", key, err)
	}
	// Decoding what was just encoded gives the exact Info (compression,
	// key) and the canonical JSON the Meta is computed from.
	decoded, info, err := s.codec.Decode(data)
	if err != nil {
		return Meta{}, fmt.Errorf("session %s: encoded session does not decode: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return Meta{}, err
	}
	id, err := s.writeFile(key, data, opt)
	if err != nil {
		return Meta{}, err
	}
	meta := Meta{Key: key, ID: id}
	if err := s.fillMeta(&meta, decoded, info); err != nil {
		s.cache.invalidate(key)
		return Meta{}, err
	}
	s.remember(key, meta, nil)
	return meta, nil
}

// writeFile replaces key's backing file with data (the save path described
// at Save) and returns the new file's identity.
func (s *FileStore) writeFile(key string, data []byte, opt SaveOptions) (FileID, error) {
	s.cache.invalidate(key)
	target := s.path(key)
	var placeholder *FileID
	if opt.MustCreate {
		id, err := s.createPlaceholder(key)
		if err != nil {
			return FileID{}, err
		}
		placeholder = &id
	} else if err := s.checkReplaceable(key); err != nil {
		return FileID{}, err
	}
	id, err := s.writeAndRename(key, target, data, opt)
	if err != nil {
		if placeholder != nil {
			s.removePlaceholder(key, *placeholder)
		}
		return FileID{}, err
	}
	return id, nil
}

// createPlaceholder makes the empty file Django's save(must_create=True)
// makes with O_CREAT|O_EXCL: it claims the key, and Django's load() reads
// it as an empty session.
func (s *FileStore) createPlaceholder(key string) (FileID, error) {
	fd, err := unix.Open(s.path(key), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return FileID{}, fmt.Errorf("session %s: %w", key, ErrExists)
		}
		return FileID{}, fmt.Errorf("session %s: creating placeholder: %w", key, err)
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return FileID{}, fmt.Errorf("session %s: stat placeholder: %w", key, err)
	}
	return FileID{Ino: st.Ino, Size: st.Size, ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec)}, nil
}

// removePlaceholder undoes createPlaceholder after a failed save, but only
// while the file is still the empty one this call made: Django may have
// written the session meanwhile.
func (s *FileStore) removePlaceholder(key string, placeholder FileID) {
	id, err := s.lstatKey(key)
	if err == nil && id.Ino == placeholder.Ino && id.Size == 0 {
		_ = os.Remove(s.path(key)) // best effort: the save error is what the caller needs
	}
}

// checkReplaceable refuses to rename over anything but a regular file (or
// nothing): a planted symlink or fifo is left for the operator to inspect.
func (s *FileStore) checkReplaceable(key string) error {
	_, err := s.lstatKey(key)
	if err == nil || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// writeAndRename writes data to a fresh temp file beside target and renames
// it over target. The temp file never survives an error.
func (s *FileStore) writeAndRename(key, target string, data []byte, opt SaveOptions) (id FileID, err error) {
	tmp, err := os.CreateTemp(s.cfg.Dir, s.fileName(key)+tempInfix+"*")
	if err != nil {
		return FileID{}, fmt.Errorf("session %s: creating temp file: %w", key, err)
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
	if _, err := tmp.Write(data); err != nil {
		return FileID{}, fmt.Errorf("session %s: writing temp file: %w", key, err)
	}
	if !s.cfg.NoFsync {
		if err := tmp.Sync(); err != nil {
			return FileID{}, fmt.Errorf("session %s: fsync temp file: %w", key, err)
		}
		if s.hooks.synced != nil {
			s.hooks.synced("file")
		}
	}
	if !opt.ModTime.IsZero() {
		if err := os.Chtimes(tmpName, time.Time{}, opt.ModTime); err != nil {
			return FileID{}, fmt.Errorf("session %s: setting mtime: %w", key, err)
		}
	}
	fi, err := tmp.Stat()
	if err != nil {
		return FileID{}, fmt.Errorf("session %s: stat temp file: %w", key, err)
	}
	if opt.IfMatch != nil {
		cur, err := s.lstatKey(key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return FileID{}, err
		}
		if err != nil || !cur.Equal(*opt.IfMatch) {
			return FileID{}, fmt.Errorf("session %s: %w", key, ErrConflict)
		}
	}
	if s.hooks.beforeRename != nil {
		if err := s.hooks.beforeRename(tmpName); err != nil {
			return FileID{}, fmt.Errorf("session %s: %w", key, err)
		}
	}
	if err := os.Rename(tmpName, target); err != nil {
		return FileID{}, fmt.Errorf("session %s: renaming temp file into place: %w", key, err)
	}
	renamed = true
	if err := tmp.Close(); err != nil {
		return FileID{}, fmt.Errorf("session %s: closing: %w", key, err)
	}
	if !s.cfg.NoFsync {
		if err := s.syncDir(); err != nil {
			return FileID{}, fmt.Errorf("session %s: %w", key, err)
		}
	}
	return fileIDOf(fi), nil
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
