package filestore

import (
	"context"
	"errors"
	"github.com/sessionfs/sessionfs/store"
	"os"
	"path/filepath"
	"testing"

	"github.com/sessionfs/sessionfs/codec"
)

// keyModel is Django's rule written independently of validKey: 8 or more
// characters from [a-z0-9], short enough that the file and its temp file
// names fit a directory entry.
func keyModel(key, prefix string) bool {
	if len(key) < 8 || len(prefix)+len(key)+len("_out_")+10 > 255 {
		return false
	}
	for _, r := range key {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// FuzzKey: key validation is the only gate between user input and a path.
// It agrees with Django's rule; an invalid key touches nothing (inside or
// outside the backing directory) and says store.ErrInvalidKey; a valid one names
// exactly one file, directly inside the directory.
func FuzzKey(f *testing.F) {
	for _, k := range []string{"abcdefgh", "abcdefg", "ABCDEFGH", "../../etc/passwd", "abc/defgh", "abcdefgh\x00x",
		"аbcdefgh", "abcdefgh_out_1", ".", "..", "", "abcdefgh12345678abcdefgh12345678", "ａｂｃｄｅｆｇｈ"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "sessions")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		s, _ := newTestStore(t, func(c *Config) { c.Dir = dir })
		valid := keyModel(key, store.DefaultCookieName)
		if got := validKey(key, store.DefaultCookieName); got != valid {
			t.Fatalf("validKey(%q) = %v, Django's rule says %v", key, got, valid)
		}
		ctx := context.Background()
		_, err := s.Save(ctx, key, []byte(`{"a":1}`), store.SaveOptions{MustCreate: true})
		if !valid {
			if !errors.Is(err, store.ErrInvalidKey) {
				t.Fatalf("Save(%q): %v, want store.ErrInvalidKey", key, err)
			}
			if _, err := s.Load(ctx, key); !errors.Is(err, store.ErrInvalidKey) {
				t.Fatalf("Load(%q): %v, want store.ErrInvalidKey", key, err)
			}
			if _, err := s.RemoveIf(ctx, key, false, func(store.Entry) bool { return true }); !errors.Is(err, store.ErrInvalidKey) {
				t.Fatalf("RemoveIf(%q): %v, want store.ErrInvalidKey", key, err)
			}
			for _, d := range []string{parent, dir} {
				if ents, _ := os.ReadDir(d); len(ents) != map[string]int{parent: 1, dir: 0}[d] {
					t.Fatalf("invalid key %q changed %s: %v", key, d, ents)
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("Save(%q): %v", key, err)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 || ents[0].Name() != store.DefaultCookieName+key {
			t.Fatalf("valid key %q made %v, want one file %s", key, ents, store.DefaultCookieName+key)
		}
		if r, err := s.RemoveIf(ctx, key, false, func(store.Entry) bool { return true }); err != nil || !r.Removed {
			t.Fatalf("RemoveIf(%q): removed %v, %v", key, r.Removed, err)
		}
	})
}

// FuzzSaveEdit: arbitrary bytes saved over an existing session (what an
// editor commits through the mount) either are refused with a typed error
// and leave the file byte for byte as it was, or are what Load returns.
func FuzzSaveEdit(f *testing.F) {
	for _, s := range []string{"{\n  \"a\": 1\n}\n", `{"a":1,"a":2}`, `[1]`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"a":1e999}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s, _ := newTestStore(t)
		ctx := context.Background()
		const key = "fuzzedit12345678"
		if _, err := s.Save(ctx, key, []byte(`{"before":true}`), store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(s.cfg.Dir, store.DefaultCookieName+key)
		before, _ := os.ReadFile(path)
		_, err := s.Save(ctx, key, in, store.SaveOptions{})
		if err != nil {
			if !errors.Is(err, codec.ErrInvalidSession) && !errors.Is(err, codec.ErrUnsupportedValue) &&
				!errors.Is(err, codec.ErrTooLarge) && !errors.Is(err, store.ErrTooLarge) {
				t.Fatalf("untyped Save error: %v", err)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(before) {
				t.Fatalf("refused save changed the file")
			}
			if ents, _ := os.ReadDir(s.cfg.Dir); len(ents) != 1 {
				t.Fatalf("refused save left %d entries", len(ents))
			}
			return
		}
		got, err := s.Load(ctx, key)
		if err != nil {
			t.Fatalf("Load after Save(%q): %v", in, err)
		}
		want, err := codec.Pretty(got.JSON)
		if err != nil {
			t.Fatalf("Pretty: %v", err)
		}
		if _, err := s.Save(ctx, key, want, store.SaveOptions{}); err != nil {
			t.Fatalf("saving what Load returned (%s) is refused: %v", want, err)
		}
		again, err := s.Load(ctx, key)
		if err != nil || string(again.JSON) != string(got.JSON) {
			t.Fatalf("saving what cat shows changed the session: %v\n got %s\nwant %s", err, again.JSON, got.JSON)
		}
	})
}
