package dbstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

func TestParseDisplayKey(t *testing.T) {
	for _, key := range []string{"", "short", "BAD/key.x", "a%41", "%", "\x00\xff", "UPPERCASEKEY123", "dots.and spaces"} {
		name := dbstore.DisplayKey(key)
		got, ok := dbstore.ParseDisplayKey(name)
		if !ok || got != key {
			t.Errorf("DisplayKey(%q) = %q parses back as %q, %v", key, name, got, ok)
		}
	}
	// Names DisplayKey never makes stand for no key: one row has one name.
	for _, name := range []string{"a%41", "%2", "%zz", "a.b", "%61bc", "x%"} {
		if key, ok := dbstore.ParseDisplayKey(name); ok {
			t.Errorf("%q parses as %q: DisplayKey shows that key as %q", name, key, dbstore.DisplayKey(key))
		}
	}
}

// A row under a key Django would not make is listed by its DisplayKey;
// Stat, ReadRaw and RemoveIf take that name (the mount's .invalid/ looks
// at and removes it), and nothing else does.
func TestSessionsInvalidKeyRowsByDisplayName(t *testing.T) {
	ctx := context.Background()
	path := sqliteFile(t, djangoSQLiteDDL)
	rawExec(t, path, `INSERT INTO django_session VALUES ('BAD/key.x', 'garbage', '2099-01-01 00:00:00')`)
	rawExec(t, path, `INSERT INTO django_session VALUES ('Short', 'other', '2099-01-01 00:00:00')`)
	s := sessionsOf(t, sqliteConfig(t, path))

	var names []string
	if err := s.Scan(ctx, func(e store.Entry) error {
		if !errors.Is(e.Err, store.ErrInvalidKey) {
			t.Errorf("entry %q: err %v, want ErrInvalidKey", e.Key, e.Err)
		}
		names = append(names, e.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 {
		t.Fatalf("scan listed %v", names)
	}
	name := dbstore.DisplayKey("BAD/key.x")
	meta, err := s.Stat(ctx, name)
	if !errors.Is(err, store.ErrInvalidKey) || meta.Key != name || meta.Version.IsZero() || meta.RawSize != int64(len("garbage")) {
		t.Fatalf("Stat(%q) = %+v, %v; want the row's Meta and ErrInvalidKey", name, meta, err)
	}
	raw, v, err := s.ReadRaw(ctx, name)
	if err != nil || string(raw) != "garbage" || v != meta.Version {
		t.Fatalf("ReadRaw(%q) = %q, %v", name, raw, err)
	}
	// Another spelling of the name, or a name of no row, is no row.
	for _, other := range []string{"BAD%2fkey%2ex", dbstore.DisplayKey("BAD/key.y"), "short"} {
		if m, err := s.Stat(ctx, other); !errors.Is(err, store.ErrInvalidKey) && !errors.Is(err, store.ErrNotFound) || !m.Version.IsZero() {
			t.Errorf("Stat(%q) = %+v, %v: want no row", other, m, err)
		}
	}
	// Every write refuses it.
	if _, err := s.Save(ctx, name, []byte(`{}`), store.SaveOptions{}); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("Save: %v, want ErrInvalidKey", err)
	}
	if _, err := s.Renew(ctx, name, meta.ModTime, store.Version{}); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("Renew: %v, want ErrInvalidKey", err)
	}
	// RemoveIf: match sees the entry; a dry run and a refusal leave it.
	r, err := s.RemoveIf(ctx, name, true, func(e store.Entry) bool { return errors.Is(e.Err, store.ErrInvalidKey) })
	if err != nil || !r.Removed {
		t.Fatalf("dry run: %+v, %v", r, err)
	}
	if r, err := s.RemoveIf(ctx, name, false, func(store.Entry) bool { return false }); err != nil || r.Removed {
		t.Fatalf("refused: %+v, %v", r, err)
	}
	r, err = s.RemoveIf(ctx, name, false, func(e store.Entry) bool { return true })
	if err != nil || !r.Removed || string(r.Raw) != "garbage" {
		t.Fatalf("RemoveIf: %+v, %v", r, err)
	}
	if m, err := s.Stat(ctx, name); !errors.Is(err, store.ErrInvalidKey) || !m.Version.IsZero() {
		t.Fatalf("after removal Stat: %+v, %v, want no row (ErrInvalidKey)", m, err)
	}
	if n := rawText(t, path, `SELECT count(*) FROM django_session`); n != "1" {
		t.Fatalf("%s rows left, want the other one", n)
	}
	if r, err := s.RemoveIf(ctx, name, false, func(store.Entry) bool { return true }); !errors.Is(err, store.ErrInvalidKey) || r.Removed {
		t.Fatalf("second removal: %+v, %v, want ErrInvalidKey", r, err)
	}
}
