package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// TempFile is a leftover "<prefix><key>_out_<random>" file: Django's (or
// sessionfs's) save writes one and renames it into place; a crash between
// the two leaves it behind. Django never removes them.
type TempFile struct {
	Name    string // file name in the session directory
	Key     string // the session it was a save of
	Size    int64
	ModTime time.Time
}

// tempKeyOfName returns the session key of a temp file name, if name is one.
func (s *FileStore) tempKeyOfName(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, s.cfg.CookieName)
	if !ok {
		return "", false
	}
	key, suffix, ok := strings.Cut(rest, tempInfix)
	if !ok || suffix == "" || strings.Contains(suffix, "/") || !validKey(key, s.cfg.CookieName) {
		return "", false
	}
	return key, true
}

// TempFiles calls fn for every leftover temp file that is a regular file,
// streaming the directory as Scan does.
func (s *FileStore) TempFiles(ctx context.Context, fn func(TempFile) error) error {
	d, err := os.Open(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("listing temp files: %w", err)
	}
	defer d.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		dirents, readErr := d.ReadDir(scanBatch)
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return fmt.Errorf("listing temp files: reading %s: %w", s.cfg.Dir, readErr)
		}
		for _, de := range dirents {
			key, ok := s.tempKeyOfName(de.Name())
			if !ok {
				continue
			}
			fi, err := os.Lstat(filepath.Join(s.cfg.Dir, de.Name()))
			if err != nil || !fi.Mode().IsRegular() {
				continue // gone meanwhile, or not something a save wrote
			}
			if err := fn(TempFile{Name: de.Name(), Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
		if errors.Is(readErr, io.EOF) || len(dirents) == 0 {
			return nil
		}
	}
}

// removeStaleTemp removes leftover temp files not modified for olderThan
// and returns their names. With dryRun it only lists them.
//
// A temp file in use is never removed. Django writes and renames its temp
// file within milliseconds of creating it, so age alone tells its
// leftovers apart. sessionfs's own saves hold an flock on their temp file
// from its creation to after the rename (writeAndRename): a file whose lock
// is held is in use however old it looks (a save stalled in fsync), so gc
// takes the lock itself, without waiting, and judges the file on that
// descriptor before removing the name.
func (s *FileStore) removeStaleTemp(ctx context.Context, olderThan time.Duration, dryRun bool) ([]string, error) {
	cutoff := s.cfg.Now().Add(-olderThan)
	var removed []string
	err := s.TempFiles(ctx, func(tf TempFile) error {
		if !tf.ModTime.Before(cutoff) {
			return nil
		}
		stale, unlock, err := s.lockStaleTemp(tf.Name, cutoff)
		if err != nil {
			return err
		}
		defer unlock()
		if !stale {
			return nil
		}
		if !dryRun {
			if err := os.Remove(filepath.Join(s.cfg.Dir, tf.Name)); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return fmt.Errorf("removing temp file %s: %w", tf.Name, err)
			}
		}
		removed = append(removed, tf.Name)
		return nil
	})
	return removed, err
}

// lockStaleTemp opens the temp file name (never through a symlink, never
// blocking on a fifo), takes its lock without waiting and reports whether
// it is stale: a regular file, not modified since cutoff, whose lock no
// save holds. unlock releases the lock (after the remove). A file that is
// gone is not stale; one the process may not open is judged by its age.
func (s *FileStore) lockStaleTemp(name string, cutoff time.Time) (stale bool, unlock func(), err error) {
	unlock = func() {}
	fd, err := openNoFollow(filepath.Join(s.cfg.Dir, name))
	switch {
	case errors.Is(err, unix.ENOENT):
		return false, unlock, nil
	case errors.Is(err, unix.EACCES):
		return true, unlock, nil
	case err != nil:
		return false, unlock, fmt.Errorf("opening temp file %s: %w", name, err)
	}
	unlock = func() { unix.Close(fd) }
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); errors.Is(err, unix.EWOULDBLOCK) {
		return false, unlock, nil // a save in flight
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, unlock, fmt.Errorf("stat of temp file %s: %w", name, err)
	}
	modified := time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
	return st.Mode&unix.S_IFMT == unix.S_IFREG && modified.Before(cutoff), unlock, nil
}
