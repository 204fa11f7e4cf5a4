package filestore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"github.com/sessionfs/sessionfs/store"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sessionfs/sessionfs/codec"
)

// vectorSecret is the SECRET_KEY of the Django 3.2 files in testdata.
const vectorSecret = "vector-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"

// Keys of the testdata files (see testdata/README.md).
const (
	keySmall     = "hibbbwu608y2l35ya7i0ggegae6zbyq1"
	keyLogin     = "7919gfabwdt6l3o5y5x598kyj5dcqwwk"
	keyExpiryInt = "z73bckcrscbr64fjfwu13pcwflo5l6su"
	keyLegacy    = "2oguj2ppamhz3ksi689c5d1q77u1drca"
	keyOtherSite = "v74djjmfjmk78cihk8911zv7ura3kj78"
)

// countingCodec is the real codec, counting decodes.
type countingCodec struct {
	*codec.Codec
	decodes atomic.Int64
}

func (c *countingCodec) Decode(data []byte) ([]byte, codec.Info, error) {
	c.decodes.Add(1)
	return c.Codec.Decode(data)
}

func newCodec(t testing.TB) *codec.Codec {
	t.Helper()
	cd, err := codec.New(codec.Config{SecretKey: []byte(vectorSecret)})
	if err != nil {
		t.Fatalf("codec.New: %v", err)
	}
	return cd
}

// newTestStore returns a store over a fresh directory, with a decode counter.
func newTestStore(t testing.TB, edit ...func(*Config)) (*FileStore, *countingCodec) {
	t.Helper()
	cfg := Config{Dir: t.TempDir(), Codec: newCodec(t), NoFsync: true}
	for _, e := range edit {
		e(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	cc := &countingCodec{Codec: cfg.Codec}
	s.codec = cc
	return s, cc
}

// copyVector copies a Django-written testdata file into the store.
func copyVector(t testing.TB, s *FileStore, key string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "sessionid"+key))
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, s, key, data)
}

// writeRaw puts bytes in key's backing file directly.
func writeRaw(t testing.TB, s *FileStore, key string, data []byte) {
	t.Helper()
	if err := os.WriteFile(s.path(key), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// setMtime moves a backing file's mtime.
func setMtime(t testing.TB, path string, mtime time.Time) {
	t.Helper()
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// save stores sessionJSON under key through the store.
func save(t testing.TB, s *FileStore, key, sessionJSON string) store.Meta {
	t.Helper()
	saved, err := s.Save(context.Background(), key, []byte(sessionJSON), store.SaveOptions{})
	if err != nil {
		t.Fatalf("Save %s: %v", key, err)
	}
	return saved.Meta
}

// snapshot describes every entry of dir (type, mode, size, mtime, content or
// link target), to prove an operation changed nothing.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil // its mtime changes with any create+remove; its entries are compared
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %x", sha256.Sum256(data))
		}
		rel, _ := filepath.Rel(dir, path)
		snap[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return snap
}

func assertSameSnapshot(t testing.TB, before, after map[string]string) {
	t.Helper()
	for name, desc := range before {
		if after[name] != desc {
			t.Errorf("%s changed: %q -> %q", name, desc, after[name])
		}
	}
	for name, desc := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s appeared: %q", name, desc)
		}
	}
}

// utimesNoFollow sets the mtime and atime of path itself, a symlink included.
func utimesNoFollow(path string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

func readFileString(path string) (string, error) {
	data, err := os.ReadFile(path)
	return string(data), err
}
