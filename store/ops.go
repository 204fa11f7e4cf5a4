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

// Delete removes key's backing file: ErrNotFound when there is none,
// ErrNotRegular for a planted symlink, directory or fifo (left alone).
func (s *FileStore) Delete(ctx context.Context, key string) error {
	if err := s.checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.cache.invalidate(key)
	if _, err := s.lstatKey(key); err != nil {
		return err
	}
	if err := os.Remove(s.path(key)); err != nil {
		return s.pathError("remove", key, err)
	}
	return nil
}

// deleteIfUnchanged removes key's backing file only while it is still the
// version id, so a session Django rewrote meanwhile is kept. It reports
// whether the file was removed.
func (s *FileStore) deleteIfUnchanged(key string, id FileID) (bool, error) {
	s.cache.invalidate(key)
	cur, err := s.lstatKey(key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !cur.Equal(id) {
		return false, nil
	}
	if err := os.Remove(s.path(key)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, s.pathError("remove", key, err)
	}
	return true, nil
}

// Touch sets the backing file's mtime (renewing an mtime-based expiry, as a
// Django save would) without following a symlink.
func (s *FileStore) Touch(ctx context.Context, key string, mtime time.Time) error {
	if err := s.checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.cache.invalidate(key)
	if _, err := s.lstatKey(key); err != nil {
		return err
	}
	times := []unix.Timespec{
		{Nsec: unix.UTIME_OMIT}, // atime unchanged
		unix.NsecToTimespec(mtime.UnixNano()),
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, s.path(key), times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return s.pathError("set mtime", key, err)
	}
	return nil
}

// Rename re-keys a session: the backing file's bytes (not re-encoded, so a
// session signed with a fallback key stays readable) are saved under to
// with must-create semantics and the file's mtime, owner and mode, then
// from is deleted.
// Some file holds the session at every moment. If from changes between the
// copy and the delete, the copy is withdrawn and ErrConflict returned.
func (s *FileStore) Rename(ctx context.Context, from, to string) error {
	if err := s.checkKey(from); err != nil {
		return err
	}
	if err := s.checkKey(to); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if from == to {
		_, err := s.lstatKey(from)
		return err
	}
	var st unix.Stat_t
	data, id, err := s.readRawStat(from, &st)
	if err != nil {
		return err
	}
	perms := permsOfStat(&st)
	newID, err := s.writeFile(to, data, SaveOptions{MustCreate: true, ModTime: id.ModTime}, &perms)
	if err != nil {
		return err
	}
	removed, err := s.deleteIfUnchanged(from, id)
	if err != nil || !removed {
		if _, rmErr := s.deleteIfUnchanged(to, newID); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
		if err == nil {
			err = fmt.Errorf("session %s: %w (renaming to %s)", from, ErrConflict, to)
		}
		return err
	}
	return nil
}
