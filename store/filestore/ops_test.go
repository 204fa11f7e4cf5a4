package filestore

import (
	"context"
	"errors"
	"github.com/sessionfs/sessionfs/store"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRemoveIfAndRenew(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	all := func(store.Entry) bool { return true }
	copyVector(t, s, keySmall)
	raw, _ := os.ReadFile(s.path(keySmall))
	mtime := time.Date(2026, 2, 3, 4, 5, 6, 7, time.UTC)
	before, err := s.Stat(ctx, keySmall)
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := s.Renew(ctx, keySmall, mtime, before.Version)
	if err != nil {
		t.Fatal(err)
	}
	if string(renewed.Raw) != string(raw) || renewed.Version == before.Version || !renewed.ModTime.Equal(mtime) {
		t.Errorf("Renew reported %+v; want the file's bytes, a new version, mtime %v", renewed.Meta, mtime)
	}
	m, err := s.Stat(ctx, keySmall)
	if err != nil || !m.ModTime.Equal(mtime) || !m.Expiry.Equal(mtime.Add(store.DefaultCookieAge)) || m.Version != renewed.Version {
		t.Errorf("after Renew: %+v, %v", m, err)
	}
	if _, err := s.Renew(ctx, keySmall, time.Now(), before.Version); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Renew of an old version = %v, want store.ErrConflict", err)
	}
	if m, _ := s.Stat(ctx, keySmall); !m.ModTime.Equal(mtime) {
		t.Errorf("a refused Renew changed the mtime to %v", m.ModTime)
	}
	r, err := s.RemoveIf(ctx, keySmall, false, all)
	if err != nil || !r.Removed || string(r.Raw) != string(raw) {
		t.Fatalf("RemoveIf = %+v, %v; want removed with its bytes", r, err)
	}
	if _, err := os.Lstat(s.path(keySmall)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file after RemoveIf: %v", err)
	}
	if r, err := s.RemoveIf(ctx, keySmall, false, all); err != nil || r.Removed {
		t.Errorf("second RemoveIf = %+v, %v; want nothing removed, no error", r, err)
	}
	if _, err := s.Renew(ctx, keySmall, mtime, store.Version{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Renew missing = %v, want store.ErrNotFound", err)
	}
	if _, err := s.Load(ctx, keySmall); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load missing = %v, want store.ErrNotFound", err)
	}
	// Renew of a symlink neither follows it nor changes it.
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	targetBefore, _ := os.Stat(target)
	if err := os.Symlink(target, s.path("alinkkey1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Renew(ctx, "alinkkey1", mtime, store.Version{}); !errors.Is(err, store.ErrNotRegular) {
		t.Errorf("Renew symlink = %v, want store.ErrNotRegular", err)
	}
	if after, _ := os.Stat(target); !after.ModTime().Equal(targetBefore.ModTime()) {
		t.Errorf("Renew followed the symlink")
	}
}

// TestRemoveIfOversized: a file over the read bound is judged unread (its
// Entry says ErrTooLarge) and removed when match accepts it.
func TestRemoveIfOversized(t *testing.T) {
	s, _ := newTestStore(t, func(c *Config) { c.MaxFileSize = 64 })
	ctx := context.Background()
	const key = "oversized01"
	writeRaw(t, s, key, make([]byte, 65))
	var judged store.Entry
	r, err := s.RemoveIf(ctx, key, false, func(e store.Entry) bool { judged = e; return e.Err != nil })
	if err != nil || !r.Removed || r.Raw != nil {
		t.Fatalf("RemoveIf = %+v, %v; want removed, no bytes", r, err)
	}
	if !errors.Is(judged.Err, store.ErrTooLarge) || judged.RawSize != 65 {
		t.Errorf("match saw %+v, want ErrTooLarge and the file's size", judged)
	}
	if _, err := os.Lstat(s.path(key)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file after RemoveIf: %v", err)
	}
}

func TestRename(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	copyVector(t, s, keyLogin)
	mtime := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	setMtime(t, s.path(keyLogin), mtime)
	raw, _ := os.ReadFile(s.path(keyLogin))
	const to = "renamedkey01"
	saved, err := s.Rename(ctx, keyLogin, to)
	if err != nil {
		t.Fatal(err)
	}
	if string(saved.Raw) != string(raw) || saved.Key != to || !saved.Created {
		t.Errorf("Rename reported %+v, want the bytes moved under %s", saved.Meta, to)
	}
	if _, err := os.Lstat(s.path(keyLogin)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old key still exists: %v", err)
	}
	got, _ := os.ReadFile(s.path(to))
	if string(got) != string(raw) {
		t.Errorf("renamed file's bytes differ")
	}
	m, err := s.Stat(ctx, to)
	if err != nil || !m.ModTime.Equal(mtime) || m.UserID != "42" || m.Version != saved.Version {
		t.Errorf("renamed: %+v, %v; want mtime %v kept, user 42", m, err, mtime)
	}
	copyVector(t, s, keySmall)
	before := snapshot(t, s.cfg.Dir)
	if _, err := s.Rename(ctx, keySmall, to); !errors.Is(err, store.ErrExists) {
		t.Errorf("Rename onto an existing key = %v, want store.ErrExists", err)
	}
	if _, err := s.Rename(ctx, "missingkey1", "othermissing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Rename of a missing key = %v, want store.ErrNotFound", err)
	}
	assertSameSnapshot(t, before, snapshot(t, s.cfg.Dir))
	assertNoTempFiles(t, s)
}

func TestTempFiles(t *testing.T) {
	now := time.Now()
	s, _ := newTestStore(t, func(c *Config) { c.Now = func() time.Time { return now } })
	ctx := context.Background()
	copyVector(t, s, keySmall)
	names := map[string]time.Time{
		"sessionid" + keySmall + "_out_abc123":   now.Add(-time.Hour), // stale
		"sessionid" + keySmall + "_out_fresh99":  now,                 // a save in progress
		"sessionidshortk_out_x":                  now.Add(-time.Hour), // key too short: not ours
		"mysession" + keySmall + "_out_abc123":   now.Add(-time.Hour), // other prefix
		"sessionid" + keySmall + "_out_":         now.Add(-time.Hour), // no random part
		"sessionid" + keySmall + "_out_lnk12345": now.Add(-time.Hour), // a symlink: never touched
	}
	for name, mtime := range names {
		p := filepath.Join(s.cfg.Dir, name)
		if filepath.Ext(name) == "" && name[len(name)-8:] == "lnk12345" {
			if err := os.Symlink("/etc/passwd", p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		setMtime(t, p, mtime)
	}
	var listed []string
	if err := s.TempFiles(ctx, func(tf TempFile) error {
		if tf.Key != keySmall {
			t.Errorf("%s: key %q", tf.Name, tf.Key)
		}
		listed = append(listed, tf.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 {
		t.Errorf("listed %v, want the 2 regular temp files of valid keys", listed)
	}
	removed, err := s.removeStaleTemp(ctx, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != "sessionid"+keySmall+"_out_abc123" {
		t.Errorf("removed %v, want only the stale one", removed)
	}
	for name := range names {
		_, err := os.Lstat(filepath.Join(s.cfg.Dir, name))
		if gone := err != nil; gone != (name == "sessionid"+keySmall+"_out_abc123") {
			t.Errorf("%s: gone=%v", name, gone)
		}
	}
	if _, err := s.Stat(ctx, keySmall); err != nil {
		t.Errorf("the session itself: %v", err)
	}
}
