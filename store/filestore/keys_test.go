package filestore

import (
	"context"
	"errors"
	"github.com/sessionfs/sessionfs/store"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInvalidKeysTouchNothing(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "sessions")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Files an escaping key could reach.
	if err := os.WriteFile(filepath.Join(parent, "sessionidvictim"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, cc := newTestStore(t, func(c *Config) { c.Dir = dir })
	copyVector(t, s, keySmall)
	tooLong := strings.Repeat("a", maxKeyLen(store.DefaultCookieName)+1)
	badKeys := map[string]string{
		"empty":      "",
		"dotdot":     "..",
		"escape":     "../sessionidvictim",
		"slash":      "abcd/efghij",
		"nul":        "abcdefgh\x00ij",
		"upper case": "ABCDEFGHIJKL",
		"mixed case": keySmall[:31] + "Z",
		"too short":  "abcdefg",
		"too long":   tooLong,
		"unicode":    "abcdéfghij",
		"temp name":  keySmall + "_out_123",
		"space":      "abcd efghij",
		"dot":        "abcdefgh.json",
		"dash":       "abcd-efghij",
	}
	before := snapshot(t, parent)
	ctx := context.Background()
	for name, key := range badKeys {
		t.Run(name, func(t *testing.T) {
			checks := map[string]error{}
			_, checks["Load"] = s.Load(ctx, key)
			_, checks["Stat"] = s.Stat(ctx, key)
			_, checks["Save"] = s.Save(ctx, key, []byte(`{"a":1}`), store.SaveOptions{})
			_, checks["Save must-create"] = s.Save(ctx, key, []byte(`{"a":1}`), store.SaveOptions{MustCreate: true})
			_, checks["RemoveIf"] = s.RemoveIf(ctx, key, false, func(store.Entry) bool { return true })
			_, _, checks["ReadRaw"] = s.ReadRaw(ctx, key)
			_, checks["Renew"] = s.Renew(ctx, key, time.Now(), store.Version{})
			_, checks["Rename from"] = s.Rename(ctx, key, keyLogin)
			_, checks["Rename to"] = s.Rename(ctx, keySmall, key)
			for op, err := range checks {
				if !errors.Is(err, store.ErrInvalidKey) {
					t.Errorf("%s(%q) = %v, want store.ErrInvalidKey", op, key, err)
				}
			}
		})
	}
	assertSameSnapshot(t, before, snapshot(t, parent))
	if n := cc.decodes.Load(); n != 0 {
		t.Errorf("%d decodes for invalid keys", n)
	}
}

func TestValidKeyLimits(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	for _, key := range []string{"abcdefgh", "0123456789", strings.Repeat("z", maxKeyLen(store.DefaultCookieName))} {
		if _, err := s.Save(ctx, key, []byte(`{"n":1}`), store.SaveOptions{MustCreate: true}); err != nil {
			t.Errorf("Save(%d-char key): %v", len(key), err)
			continue
		}
		if len(s.fileName(key))+len(tempInfix)+maxTempSuffix > maxNameLen {
			t.Errorf("key of %d chars leaves no room for a temp file name", len(key))
		}
		if _, err := s.Load(ctx, key); err != nil {
			t.Errorf("Load(%d-char key): %v", len(key), err)
		}
	}
}

func TestNewRejectsBadCookieNames(t *testing.T) {
	for _, name := range []string{"a/b", "../x", "nul\x00", strings.Repeat("p", 250)} {
		_, err := New(Config{Dir: t.TempDir(), Codec: newCodec(t), CookieName: name})
		if err == nil {
			t.Errorf("New accepted cookie name %q", name)
		}
	}
}
