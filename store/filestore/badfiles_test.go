package filestore

import (
	"context"
	"errors"
	"github.com/sessionfs/sessionfs/store"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// Keys of the planted files.
const (
	keySymlinkSession = "symlinktosession"
	keySymlinkPasswd  = "symlinktopasswd"
	keyDirectory      = "adirectory"
	keyFifo           = "afifoplanted"
	keySocket         = "asocketplanted"
	keyHuge           = "hugefileplanted"
	keyZero           = "zerobytes"
	keyGarbage        = "garbagefile"
)

// plantBadFiles fills a store with every kind of file that is not a good
// session, and returns the wanted error of each (nil: loads fine).
func plantBadFiles(t *testing.T, s *FileStore) map[string]error {
	t.Helper()
	copyVector(t, s, keySmall)
	copyVector(t, s, keyOtherSite)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(s.path(keySmall), s.path(keySymlinkSession)))
	must(os.Symlink("/etc/passwd", s.path(keySymlinkPasswd)))
	must(os.Mkdir(s.path(keyDirectory), 0o700))
	must(syscall.Mkfifo(s.path(keyFifo), 0o600))
	must(syscall.Mknod(s.path(keySocket), syscall.S_IFSOCK|0o600, 0)) // cannot be opened at all (ENXIO)
	huge := make([]byte, s.cfg.MaxFileSize+1)
	for i := range huge {
		huge[i] = 'a'
	}
	writeRaw(t, s, keyHuge, huge)
	writeRaw(t, s, keyZero, nil)
	writeRaw(t, s, keyGarbage, []byte("this is not a session \x00\xff"))
	// Not sessions of this store at all: never listed.
	must(os.WriteFile(filepath.Join(s.cfg.Dir, "mysession"+keySmall), []byte("x"), 0o600))
	must(os.WriteFile(filepath.Join(s.cfg.Dir, "sessionid"+keySmall+"_out_8f3k2j1"), []byte("x"), 0o600))
	must(os.WriteFile(filepath.Join(s.cfg.Dir, "README"), []byte("x"), 0o600))
	return map[string]error{
		keySmall:          nil,
		keyZero:           nil,
		keyOtherSite:      codec.ErrBadSignature,
		keySymlinkSession: store.ErrNotRegular,
		keySymlinkPasswd:  store.ErrNotRegular,
		keyDirectory:      store.ErrNotRegular,
		keyFifo:           store.ErrNotRegular,
		keySocket:         store.ErrNotRegular,
		keyHuge:           store.ErrTooLarge,
		keyGarbage:        codec.ErrUnknownFormat,
	}
}

func TestBadFiles(t *testing.T) {
	s, _ := newTestStore(t, func(c *Config) { c.MaxFileSize = 4096 })
	want := plantBadFiles(t, s)
	before := snapshot(t, s.cfg.Dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a fifo must never hang
	defer cancel()

	for key, wantErr := range want {
		t.Run("Load "+key, func(t *testing.T) {
			sess, err := s.Load(ctx, key)
			if wantErr == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if !errors.Is(err, wantErr) {
				t.Fatalf("Load = %v, want %v", err, wantErr)
			}
			if sess != nil {
				t.Errorf("Load returned a session with error %v", err)
			}
			if _, err := s.Stat(ctx, key); !errors.Is(err, wantErr) {
				t.Errorf("Stat = %v, want %v", err, wantErr)
			}
		})
	}

	sess, err := s.Load(ctx, keyZero)
	if err != nil || !sess.Empty || string(sess.JSON) != "{}" || !sess.Expiry.IsZero() {
		t.Errorf("zero-byte file: %+v, %v; want empty session {} that never expires", sess, err)
	}

	got := map[string]error{}
	err = s.Scan(ctx, func(e store.Entry) error {
		if _, dup := got[e.Key]; dup {
			t.Errorf("Scan gave %s twice", e.Key)
		}
		got[e.Key] = e.Err
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if len(got) != len(want) {
		t.Errorf("Scan gave %d entries, want %d: %v", len(got), len(want), got)
	}
	for key, wantErr := range want {
		gotErr, ok := got[key]
		switch {
		case !ok:
			t.Errorf("Scan missed %s", key)
		case wantErr == nil && gotErr != nil, wantErr != nil && !errors.Is(gotErr, wantErr):
			t.Errorf("Scan entry %s: err %v, want %v", key, gotErr, wantErr)
		}
	}

	// Nothing here is expired (fresh mtimes): a real clear deletes nothing.
	res, err := s.ClearExpired(ctx, store.ClearOptions{}, nil)
	if err != nil || len(res.Removed) != 0 {
		t.Errorf("ClearExpired = %+v, %v; want nothing removed", res, err)
	}
	// Changing operations refuse the non-regular files.
	for _, key := range []string{keySymlinkSession, keySymlinkPasswd, keyDirectory, keyFifo, keySocket} {
		if _, err := s.RemoveIf(ctx, key, false, func(store.Entry) bool { return true }); !errors.Is(err, store.ErrNotRegular) {
			t.Errorf("RemoveIf %s = %v, want store.ErrNotRegular", key, err)
		}
		if _, err := s.Renew(ctx, key, time.Unix(1, 0), store.Version{}); !errors.Is(err, store.ErrNotRegular) {
			t.Errorf("Renew %s = %v, want store.ErrNotRegular", key, err)
		}
		if _, err := s.Save(ctx, key, []byte(`{"a":1}`), store.SaveOptions{}); !errors.Is(err, store.ErrNotRegular) {
			t.Errorf("Save %s = %v, want store.ErrNotRegular", key, err)
		}
		if _, err := s.Save(ctx, key, []byte(`{"a":1}`), store.SaveOptions{MustCreate: true}); !errors.Is(err, store.ErrExists) {
			t.Errorf("Save must-create %s = %v, want store.ErrExists", key, err)
		}
		if _, err := s.Rename(ctx, key, "renamedtarget"); !errors.Is(err, store.ErrNotRegular) {
			t.Errorf("Rename %s = %v, want store.ErrNotRegular", key, err)
		}
	}
	assertSameSnapshot(t, before, snapshot(t, s.cfg.Dir))
	if data, err := os.ReadFile("/etc/passwd"); err != nil || len(data) == 0 {
		t.Errorf("/etc/passwd unreadable after the test: %v", err)
	}
}

func TestBadFilesExpiredByMtime(t *testing.T) {
	s, _ := newTestStore(t, func(c *Config) { c.MaxFileSize = 4096 })
	plantBadFiles(t, s)
	old := time.Now().Add(-store.DefaultCookieAge - time.Hour)
	entries, _ := os.ReadDir(s.cfg.Dir)
	for _, e := range entries {
		// The symlinks themselves get old (and their targets, listed too).
		p := filepath.Join(s.cfg.Dir, e.Name())
		if err := utimesNoFollow(p, old); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.ClearExpired(context.Background(), store.ClearOptions{KeepLeftovers: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Django deletes an old undecodable file (its load() sees {} and the old
	// mtime) and an old valid one; never an empty placeholder, and sessionfs
	// never touches what is not a regular file or is too large to read.
	wantRemoved := map[string]bool{keySmall: true, keyOtherSite: true, keyGarbage: true}
	if len(res.Removed) != len(wantRemoved) {
		t.Errorf("removed %v, want %v", res.Removed, wantRemoved)
	}
	for _, key := range res.Removed {
		if !wantRemoved[key] {
			t.Errorf("removed %s", key)
		}
		if _, err := os.Lstat(s.path(key)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", key, err)
		}
	}
	for _, key := range []string{keyZero, keySymlinkSession, keySymlinkPasswd, keyDirectory, keyFifo, keySocket, keyHuge} {
		if _, err := os.Lstat(s.path(key)); err != nil {
			t.Errorf("%s removed: %v", key, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(s.cfg.Dir, "sessionid"+keySmall+"_out_8f3k2j1")); err != nil {
		t.Errorf("temp file removed by ClearExpired with KeepLeftovers: %v", err)
	}
}
