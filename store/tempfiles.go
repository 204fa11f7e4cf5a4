package store

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

// RemoveStaleTemp removes leftover temp files not modified for olderThan
// (a save in progress rewrites its temp file within milliseconds; a minute
// is safely stale) and returns their names. With dryRun it only lists them.
func (s *FileStore) RemoveStaleTemp(ctx context.Context, olderThan time.Duration, dryRun bool) ([]string, error) {
	cutoff := s.cfg.Now().Add(-olderThan)
	var removed []string
	err := s.TempFiles(ctx, func(tf TempFile) error {
		if !tf.ModTime.Before(cutoff) {
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
