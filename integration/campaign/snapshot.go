package campaign

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Snapshot describes every entry of dir without following or opening
// anything but regular files (a planted fifo must not block it): type,
// mode, owner, size, mtime, link target, content hash.
func Snapshot(dir string) (map[string]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", dir, err)
	}
	snap := map[string]string{}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		desc := fmt.Sprintf("mode=%v size=%d mtime=%d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			desc += fmt.Sprintf(" uid=%d ino=%d", st.Uid, st.Ino)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			h, err := hashFile(p)
			if err != nil {
				return nil, err
			}
			desc += " sha256=" + h
		}
		snap[e.Name()] = desc
	}
	return snap, nil
}

// SnapshotDiff says how two snapshots differ, "" when equal.
func SnapshotDiff(before, after map[string]string) string {
	var b strings.Builder
	for name, v := range before {
		if w, ok := after[name]; !ok {
			fmt.Fprintf(&b, "%.60s removed; ", name)
		} else if v != w {
			fmt.Fprintf(&b, "%.60s changed (%s -> %s); ", name, v, w)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			fmt.Fprintf(&b, "%.60s added; ", name)
		}
	}
	return b.String()
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", p, err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}
