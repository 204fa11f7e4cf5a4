package filestore

import (
	"context"
	"errors"
	"github.com/sessionfs/sessionfs/store"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

func TestSaveRoundTrip(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	const key = "roundtrip0001"
	in := `{"b": 1, "a": [true, null, "é"], "_auth_user_id": "7"}`
	meta, err := s.Save(ctx, key, []byte(in), store.SaveOptions{MustCreate: true})
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	sess, err := s.Load(ctx, key)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	pretty, err := codec.Pretty(sess.JSON)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"b\": 1,\n  \"a\": [\n    true,\n    null,\n    \"é\"\n  ],\n  \"_auth_user_id\": \"7\"\n}\n"; string(pretty) != want {
		t.Errorf("loaded %s, want %s", pretty, want)
	}
	if sess.UserID != "7" || meta.UserID != "7" {
		t.Errorf("UserID = %q / %q, want 7", sess.UserID, meta.UserID)
	}
	if meta.Size != int64(len(pretty)) || sess.Size != meta.Size {
		t.Errorf("Size = %d / %d, want %d", meta.Size, sess.Size, len(pretty))
	}
	if meta.Version != sess.Version || meta.Version.IsZero() {
		t.Errorf("Save's Version %x differs from Load's %x", meta.Version, sess.Version)
	}
	fi, err := os.Stat(s.path(key))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode())
	}
	if sess.Info.Format != codec.FormatSigned || sess.Info.KeyIndex != 0 {
		t.Errorf("Info %+v, want format signed with the current key", sess.Info)
	}
	assertNoTempFiles(t, s)
}

func assertNoTempFiles(t *testing.T, s *FileStore) {
	t.Helper()
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), tempInfix) {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

func TestSaveTempFileNamingAndFsync(t *testing.T) {
	s, _ := newTestStore(t, func(c *Config) { c.NoFsync = false })
	const key = "tempnaming01"
	var seenTemp string
	var syncs []string
	s.hooks.synced = func(what string) { syncs = append(syncs, what) }
	s.hooks.beforeRename = func(tmpName string) error {
		seenTemp = tmpName
		fi, err := os.Stat(tmpName)
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("temp file mode %v, want 0600", fi.Mode())
		}
		return nil
	}
	save(t, s, key, `{"a":1}`)
	if filepath.Dir(seenTemp) != s.cfg.Dir {
		t.Errorf("temp file %s not in the session directory", seenTemp)
	}
	if !regexp.MustCompile(`^sessionid` + key + `_out_[0-9]+$`).MatchString(filepath.Base(seenTemp)) {
		t.Errorf("temp file name %s, want sessionid%s_out_<random>", filepath.Base(seenTemp), key)
	}
	if strings.Join(syncs, ",") != "file,dir" {
		t.Errorf("fsyncs %v, want file then dir", syncs)
	}
	syncs = nil
	s.cfg.NoFsync = true
	save(t, s, key, `{"a":2}`)
	if len(syncs) != 0 {
		t.Errorf("NoFsync: fsyncs %v", syncs)
	}
	assertNoTempFiles(t, s)
}

func TestSaveKeepsModTime(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	const key = "keepmtime01"
	mtime := time.Date(2024, 3, 4, 5, 6, 7, 123456789, time.UTC)
	save(t, s, key, `{"a":0}`)
	setMtime(t, s.path(key), mtime)
	saved, err := s.Save(ctx, key, []byte(`{"a":1}`), store.SaveOptions{KeepExpiry: true})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.path(key))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(mtime) || !saved.ModTime.Equal(mtime) {
		t.Errorf("mtime %v (meta %v), want %v", fi.ModTime(), saved.ModTime, mtime)
	}
	if want := mtime.Add(store.DefaultCookieAge); !saved.Expiry.Equal(want) {
		t.Errorf("Expiry %v, want mtime + cookie age %v", saved.Expiry, want)
	}
	// A new session gets the life a Django save gives it: from now.
	saved, err = s.Save(ctx, "keepmtimenew", []byte(`{"a":1}`), store.SaveOptions{KeepExpiry: true})
	if err != nil || time.Since(saved.ModTime) > time.Minute {
		t.Errorf("new session with KeepExpiry: mtime %v, %v", saved.ModTime, err)
	}
}

// TestSaveReports: Saved is what the save stored and, with ReportBefore,
// what it replaced, so that no caller reads the file again.
func TestSaveReports(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	const key = "savereports1"
	created, err := s.Save(ctx, key, []byte(`{"v": 1}`), store.SaveOptions{ReportBefore: true})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(s.path(key))
	if !created.Created || created.Before != nil || string(created.Raw) != string(first) || string(created.JSON) != `{"v":1}` {
		t.Errorf("create reported created %v, before %q, raw ok %v, JSON %s", created.Created, created.Before,
			string(created.Raw) == string(first), created.JSON)
	}
	replaced, err := s.Save(ctx, key, []byte(`{"v": 2}`), store.SaveOptions{ReportBefore: true, IfMatch: created.Version})
	if err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(s.path(key))
	if replaced.Created || string(replaced.Before) != string(first) || string(replaced.BeforeJSON) != `{"v":1}` ||
		string(replaced.Raw) != string(second) {
		t.Errorf("replace reported created %v, before %q (%s), raw ok %v", replaced.Created, replaced.Before,
			replaced.BeforeJSON, string(replaced.Raw) == string(second))
	}
	quiet, err := s.Save(ctx, key, []byte(`{"v": 3}`), store.SaveOptions{})
	if err != nil || quiet.Created || quiet.Before != nil {
		t.Errorf("without ReportBefore: created %v, before %q, %v", quiet.Created, quiet.Before, err)
	}
	// A dry run encodes as asked and writes nothing.
	before := snapshot(t, s.cfg.Dir)
	enc := codec.EncodeOptions{Format: codec.FormatLegacy}
	dry, err := s.Save(ctx, key, []byte(`{"v": 4}`), store.SaveOptions{DryRun: true, Encode: &enc})
	if err != nil || dry.Info.Format != codec.FormatLegacy || len(dry.Raw) == 0 || !dry.Version.IsZero() {
		t.Errorf("dry run: %+v, %v", dry.Meta, err)
	}
	assertSameSnapshot(t, before, snapshot(t, s.cfg.Dir))
}

func TestSaveErrorsLeaveDirectoryUnchanged(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	copyVector(t, s, keySmall)
	before := snapshot(t, s.cfg.Dir)

	for name, body := range map[string]string{"array": `[1,2]`, "invalid": `{"a":`, "duplicate": `{"a":1,"a":2}`} {
		for _, mustCreate := range []bool{false, true} {
			for _, key := range []string{keySmall, "brandnewkey1"} {
				_, err := s.Save(ctx, key, []byte(body), store.SaveOptions{MustCreate: mustCreate})
				if !errors.Is(err, codec.ErrInvalidSession) {
					t.Errorf("%s must-create=%v %s: %v, want ErrInvalidSession", name, mustCreate, key, err)
				}
			}
		}
	}
	assertSameSnapshot(t, before, snapshot(t, s.cfg.Dir))

	// A failure after the temp file exists (the rename refused): the temp
	// file and a placeholder this save created are removed; the existing
	// session is unchanged.
	boom := errors.New("injected failure")
	s.hooks.beforeRename = func(string) error { return boom }
	for _, opt := range []store.SaveOptions{{}, {MustCreate: true}} {
		for _, key := range []string{keySmall, "brandnewkey2"} {
			_, err := s.Save(ctx, key, []byte(`{"x":1}`), opt)
			wantErr := boom
			if opt.MustCreate && key == keySmall {
				wantErr = store.ErrExists
			}
			if !errors.Is(err, wantErr) {
				t.Errorf("Save %s %+v = %v, want %v", key, opt, err, wantErr)
			}
		}
	}
	assertSameSnapshot(t, before, snapshot(t, s.cfg.Dir))
}

func TestSaveMustCreate(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	copyVector(t, s, keySmall)
	before := snapshot(t, s.cfg.Dir)
	if _, err := s.Save(ctx, keySmall, []byte(`{"a":1}`), store.SaveOptions{MustCreate: true}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("must-create on an existing key: %v, want store.ErrExists", err)
	}
	assertSameSnapshot(t, before, snapshot(t, s.cfg.Dir))
	// Without MustCreate a missing key is created (sessionfs put), an
	// existing one replaced.
	save(t, s, "createdbyput", `{"a":1}`)
	save(t, s, keySmall, `{"replaced":true}`)
	sess, err := s.Load(ctx, keySmall)
	if err != nil || string(sess.JSON) != `{"replaced":true}` {
		t.Errorf("after replace: %v %v", sess, err)
	}
}

func TestSaveIfMatch(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	const key = "ifmatch0001"
	first := save(t, s, key, `{"v":1}`)
	second := save(t, s, key, `{"v":2}`) // someone else's save after our read of v1
	_, err := s.Save(ctx, key, []byte(`{"v":3}`), store.SaveOptions{IfMatch: first.Version})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale IfMatch: %v, want store.ErrConflict", err)
	}
	sess, err := s.Load(ctx, key)
	if err != nil || string(sess.JSON) != `{"v":2}` {
		t.Errorf("after conflict: %s %v, want v2 kept", sess.JSON, err)
	}
	assertNoTempFiles(t, s)
	if _, err := s.Save(ctx, key, []byte(`{"v":3}`), store.SaveOptions{IfMatch: second.Version}); err != nil {
		t.Errorf("current IfMatch: %v", err)
	}
	if err := os.Remove(s.path(key)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, key, []byte(`{"v":4}`), store.SaveOptions{IfMatch: second.Version}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("IfMatch on a deleted session: %v, want store.ErrConflict", err)
	}
	if _, err := os.Lstat(s.path(key)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("conflicting save recreated the deleted session: %v", err)
	}
}

// incompressibleJSON is a session of n bytes that zlib barely shrinks: one
// string of random printable ASCII (6.5 bits a character), so its encoded
// file, base64, is about 9% larger than the JSON.
func incompressibleJSON(n int) []byte {
	const chars = " !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~"
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	b := append(make([]byte, 0, n), `{"blob": "`...)
	for len(b) < n-2 {
		b = append(b, chars[r.IntN(len(chars))])
	}
	return append(b, `"}`...)
}

// A save whose encoded file would be over the size every read refuses
// fails before touching the directory, saying both sizes.
func TestSaveRefusesFileItCouldNotReadBack(t *testing.T) {
	ctx := context.Background()
	s, cc := newTestStore(t)
	copyVector(t, s, keySmall)
	before := snapshot(t, s.cfg.Dir)
	js := incompressibleJSON(15 << 20)
	decodes := cc.decodes.Load()
	for _, opt := range []store.SaveOptions{{}, {MustCreate: true}, {KeepExpiry: true}} {
		for _, key := range []string{keySmall, "brandnewkey3"} {
			if opt.MustCreate && key == keySmall {
				continue
			}
			_, err := s.Save(ctx, key, js, opt)
			if !errors.Is(err, store.ErrTooLarge) {
				t.Fatalf("Save %s %+v of 15 MiB incompressible JSON: %v, want store.ErrTooLarge", key, opt, err)
			}
			if msg := err.Error(); !regexp.MustCompile(`encoded session is 1[78]\d{6} bytes, over the 16777216-byte limit`).MatchString(msg) {
				t.Errorf("error %q does not give the encoded size and the limit", msg)
			}
		}
	}
	if n := cc.decodes.Load() - decodes; n != 0 {
		t.Errorf("%d decodes of a file that was never going to be written", n)
	}
	assertSameSnapshot(t, before, snapshot(t, s.cfg.Dir))

	// Right at the bound the file is written and reads back.
	small, _ := newTestStore(t, func(c *Config) { c.MaxFileSize = 4096 })
	for n := 2000; ; n += 16 {
		js := incompressibleJSON(n)
		data, err := small.codec.Encode(js, small.cfg.Encode)
		if err != nil {
			t.Fatal(err)
		}
		_, err = small.Save(ctx, "atthebound01", js, store.SaveOptions{})
		if len(data) > 4096 {
			if !errors.Is(err, store.ErrTooLarge) {
				t.Errorf("%d encoded bytes over a 4096-byte bound: %v, want store.ErrTooLarge", len(data), err)
			}
			break
		}
		if err != nil {
			t.Fatalf("%d encoded bytes under a 4096-byte bound: %v", len(data), err)
		}
		if _, err := small.Load(ctx, "atthebound01"); err != nil {
			t.Fatalf("%d encoded bytes saved but not read back: %v", len(data), err)
		}
	}
}
