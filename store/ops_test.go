package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDeleteExistsTouch(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	copyVector(t, s, keySmall)
	if ok, err := s.Exists(ctx, keySmall); !ok || err != nil {
		t.Errorf("Exists = %v, %v", ok, err)
	}
	mtime := time.Date(2026, 2, 3, 4, 5, 6, 7, time.UTC)
	if err := s.Touch(ctx, keySmall, mtime); err != nil {
		t.Fatal(err)
	}
	m, err := s.Stat(ctx, keySmall)
	if err != nil || !m.ID.ModTime.Equal(mtime) || !m.Expiry.Equal(mtime.Add(DefaultCookieAge)) {
		t.Errorf("after Touch: %+v, %v", m, err)
	}
	if err := s.Delete(ctx, keySmall); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Exists(ctx, keySmall); ok || err != nil {
		t.Errorf("Exists after Delete = %v, %v", ok, err)
	}
	if err := s.Delete(ctx, keySmall); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if err := s.Touch(ctx, keySmall, mtime); !errors.Is(err, ErrNotFound) {
		t.Errorf("Touch missing = %v, want ErrNotFound", err)
	}
	if _, err := s.Load(ctx, keySmall); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load missing = %v, want ErrNotFound", err)
	}
	// Touch of a symlink neither follows it nor changes it.
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(target)
	if err := os.Symlink(target, s.path("alinkkey1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Touch(ctx, "alinkkey1", mtime); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Touch symlink = %v, want ErrNotRegular", err)
	}
	if after, _ := os.Stat(target); !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("Touch followed the symlink")
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
	if err := s.Rename(ctx, keyLogin, to); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Exists(ctx, keyLogin); ok {
		t.Errorf("old key still exists")
	}
	got, _ := os.ReadFile(s.path(to))
	if string(got) != string(raw) {
		t.Errorf("renamed file's bytes differ")
	}
	m, err := s.Stat(ctx, to)
	if err != nil || !m.ID.ModTime.Equal(mtime) || m.UserID != "42" {
		t.Errorf("renamed: %+v, %v; want mtime %v kept, user 42", m, err, mtime)
	}
	copyVector(t, s, keySmall)
	before := snapshot(t, s.cfg.Dir)
	if err := s.Rename(ctx, keySmall, to); !errors.Is(err, ErrExists) {
		t.Errorf("Rename onto an existing key = %v, want ErrExists", err)
	}
	if err := s.Rename(ctx, "missingkey1", "othermissing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rename of a missing key = %v, want ErrNotFound", err)
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
	removed, err := s.RemoveStaleTemp(ctx, time.Minute, false)
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
