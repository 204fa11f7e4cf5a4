package dbstore_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// What only the database backend promises, beside the contract: each test
// runs on a SQLite file shaped as Django's migration makes it (the
// conformance suite runs the contract on every engine).

func sqliteSessions(t *testing.T, edit ...func(*dbstore.SessionConfig)) (*dbstore.Sessions, string) {
	t.Helper()
	path := sqliteFile(t, djangoSQLiteDDL)
	return sessionsOf(t, sqliteConfig(t, path), edit...), path
}

var bg = context.Background()

func mustSave(t *testing.T, s store.Store, k, js string, opt store.SaveOptions) store.Saved {
	t.Helper()
	saved, err := s.Save(bg, k, []byte(js), opt)
	if err != nil {
		t.Fatalf("Save(%s, %s): %v", k, js, err)
	}
	return saved
}

func scanAll(t *testing.T, s store.Store) map[string]store.Entry {
	t.Helper()
	out := map[string]store.Entry{}
	if err := s.Scan(bg, func(e store.Entry) error { out[e.Key] = e; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// A listing of unchanged rows decodes none of them; a row Django saves is
// decoded again, alone; rows removed leave the cache at the next listing.
func TestSessionsCacheAvoidsDecodes(t *testing.T) {
	s, path := sqliteSessions(t)
	cc := &countingCodec{Codec: newCodec(t)}
	dbstore.SetSessionCodec(s, cc)
	for i := range 50 {
		mustSave(t, s, key(i), fmt.Sprintf(`{"_auth_user_id": "%d", "n": %d}`, i%7, i), store.SaveOptions{MustCreate: true})
	}
	cc.decodes.Store(0)
	first := scanAll(t, s)
	if n := cc.decodes.Load(); n != 0 {
		t.Errorf("listing what this store saved decoded %d rows", n)
	}
	// A fresh store (another process: the CLI) decodes each row once.
	fresh := sessionsOf(t, sqliteConfig(t, path))
	fc := &countingCodec{Codec: newCodec(t)}
	dbstore.SetSessionCodec(fresh, fc)
	scanAll(t, fresh)
	if n := fc.decodes.Load(); n != 50 {
		t.Errorf("a first listing decoded %d of 50 rows", n)
	}
	fc.decodes.Store(0)
	again := scanAll(t, fresh)
	if n := fc.decodes.Load(); n != 0 {
		t.Errorf("a second listing decoded %d rows", n)
	}
	for k, e := range again {
		if e.Meta != first[k].Meta {
			t.Errorf("%s: cached %+v, decoded %+v", k, e.Meta, first[k].Meta)
		}
	}
	// Django saves one; another is removed.
	other := mustSave(t, s, key(100), `{"_auth_user_id": "99"}`, store.SaveOptions{MustCreate: true})
	rawExec(t, path, `UPDATE django_session SET session_data = ?, expire_date = '2099-01-01 00:00:00' WHERE session_key = ?`, string(other.Raw), key(3))
	rawExec(t, path, `DELETE FROM django_session WHERE session_key = ?`, key(4))
	fc.decodes.Store(0)
	now := scanAll(t, fresh)
	if n := fc.decodes.Load(); n != 2 {
		t.Errorf("after one row changed and one was added: %d decodes", n)
	}
	if e := now[key(3)]; e.UserID != "99" || !e.Expiry.Equal(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("a row Django rewrote lists as %+v", e)
	}
	if n := dbstore.CacheLen(fresh); n != 50 {
		t.Errorf("cache holds %d sessions after a listing of 50", n)
	}
	fc.decodes.Store(0)
	if _, err := fresh.Stat(bg, key(10)); err != nil || fc.decodes.Load() != 0 {
		t.Errorf("Stat of an unchanged row: %v, %d decodes", err, fc.decodes.Load())
	}
}

// What ls -l shows as the mtime of a row: when Django last saved it.
func TestSessionsModTime(t *testing.T) {
	s, _ := sqliteSessions(t)
	age := s.Config().CookieAge
	before := time.Now()
	def := mustSave(t, s, key(1), `{"a": 1}`, store.SaveOptions{MustCreate: true})
	if !def.ModTime.Equal(def.Expiry.Add(-age)) || def.ModTime.Before(before.Add(-time.Millisecond)) || def.ModTime.After(time.Now()) {
		t.Errorf("a default session saved now: ModTime %v, expires %v", def.ModTime, def.Expiry)
	}
	short := mustSave(t, s, key(2), `{"_session_expiry": 300}`, store.SaveOptions{MustCreate: true})
	if !short.ModTime.Equal(short.Expiry.Add(-300*time.Second)) || short.ModTime.Before(before.Add(-time.Millisecond)) {
		t.Errorf("set_expiry(300): ModTime %v, expires %v", short.ModTime, short.Expiry)
	}
	dated := mustSave(t, s, key(3), `{"_session_expiry": "2031-01-01T00:00:00+00:00"}`, store.SaveOptions{MustCreate: true})
	if !dated.ModTime.Equal(dated.Info.Timestamp) || dated.ModTime.Before(before.Add(-time.Second)) {
		t.Errorf("an absolute expiry: ModTime %v, signed at %v", dated.ModTime, dated.Info.Timestamp)
	}
	at := time.Date(2026, 6, 1, 12, 0, 0, 123456000, time.UTC)
	for _, k := range []string{key(1), key(2)} {
		r, err := s.Renew(bg, k, at, store.Version{})
		if err != nil || !r.ModTime.Equal(at) {
			t.Errorf("touch as of %v: ModTime %v (%v)", at, r.ModTime, err)
		}
	}
}

// Expired is Django's expire_date > now to the microsecond, not the file
// backend's whole seconds, through Meta.Expired as well (every caller).
func TestSessionsExpiredInstant(t *testing.T) {
	s, path := sqliteSessions(t)
	mustSave(t, s, key(1), `{}`, store.SaveOptions{MustCreate: true})
	rawExec(t, path, `UPDATE django_session SET expire_date = '2030-01-01 00:00:00.500000'`)
	exp := time.Date(2030, 1, 1, 0, 0, 0, 500_000_000, time.UTC)
	e := scanAll(t, s)[key(1)]
	m, err := s.Stat(bg, key(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		now  time.Time
		want bool
	}{
		{exp.Add(-time.Second), false},
		{exp.Add(-time.Microsecond), false},
		{exp, true},
		{exp.Add(time.Microsecond), true},
	} {
		if s.Expired(e, tt.now) != tt.want || e.Expired(tt.now) != tt.want || m.Expired(tt.now) != tt.want {
			t.Errorf("at expiry%+v: store %v, entry %v, Stat %v; want %v", tt.now.Sub(exp),
				s.Expired(e, tt.now), e.Expired(tt.now), m.Expired(tt.now), tt.want)
		}
	}
}

// Rows under keys Django's generator never makes list as invalid entries
// (escaped for display, never crashing a listing), count in Stats, and go
// when expired as Django's clear_expired removes them; no operation takes
// such a key.
func TestSessionsRowsWithForeignKeys(t *testing.T) {
	s, path := sqliteSessions(t)
	good := mustSave(t, s, key(1), `{"_auth_user_id": "1"}`, store.SaveOptions{MustCreate: true})
	foreign := map[string]string{ // stored key -> as listed
		"UPPERCASEKEY00001":     "UPPERCASEKEY00001",
		"../../etc/passwd00":    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd00",
		"dot.key.0000":          "dot%2Ekey%2E0000",
		"ctl\x1b[31mred\x07000": "ctl%1B%5B31mred%07000",
		"short":                 "short",
		"":                      "%",
	}
	for k := range foreign {
		rawExec(t, path, `INSERT INTO django_session VALUES (?, ?, '2099-01-01 00:00:00')`, k, string(good.Raw))
	}
	rawExec(t, path, `UPDATE django_session SET expire_date = '2001-01-01 00:00:00' WHERE session_key = 'short'`)
	all := scanAll(t, s)
	if len(all) != len(foreign)+1 {
		t.Errorf("listed %d rows, want %d", len(all), len(foreign)+1)
	}
	for stored, shown := range foreign {
		e, ok := all[shown]
		if !ok || !errors.Is(e.Err, store.ErrInvalidKey) || store.Problem(e.Err) != "invalid-key" || e.UserID != "" {
			t.Errorf("row %q: listed as %q: %+v (present %v)", stored, shown, e, ok)
		}
		if _, err := s.Stat(bg, stored); stored != "" && !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Stat(%q): %v", stored, err)
		}
	}
	st, err := s.Stats(bg, nil)
	if err != nil || st.Sessions != 1 || st.Invalid != len(foreign) || st.Expired != 0 || st.Problems["invalid-key"] != len(foreign) {
		t.Errorf("Stats %+v %v", st, err)
	}
	res, err := s.ClearExpired(bg, store.ClearOptions{}, nil)
	if err != nil || len(res.Removed) != 1 || res.Removed[0] != "short" {
		t.Errorf("ClearExpired: %+v %v", res, err)
	}
}

// A row over the size bound is listed as too large, never decoded, and can
// be removed; a save over the bound is refused.
func TestSessionsTooLargeRows(t *testing.T) {
	s, path := sqliteSessions(t, func(c *dbstore.SessionConfig) { c.MaxSessionSize = 1024 })
	cc := &countingCodec{Codec: newCodec(t)}
	dbstore.SetSessionCodec(s, cc)
	rawExec(t, path, `INSERT INTO django_session VALUES (?, ?, '2099-01-01 00:00:00')`, key(1), strings.Repeat("x", 2000))
	e := scanAll(t, s)[key(1)]
	if !errors.Is(e.Err, store.ErrTooLarge) || e.RawSize != 2000 || cc.decodes.Load() != 0 {
		t.Errorf("entry %+v after %d decodes", e, cc.decodes.Load())
	}
	if _, _, err := s.ReadRaw(bg, key(1)); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("ReadRaw: %v", err)
	}
	r, err := s.RemoveIf(bg, key(1), false, func(e store.Entry) bool { return errors.Is(e.Err, store.ErrTooLarge) })
	if err != nil || !r.Removed || r.Raw != nil {
		t.Errorf("RemoveIf: %+v %v", r, err)
	}
}

// Keys, the size bound and _session_expiry are checked before any
// statement: with the database closed, each refusal is still the right one.
func TestSessionsCheckedBeforeAnyStatement(t *testing.T) {
	s, _ := sqliteSessions(t, func(c *dbstore.SessionConfig) { c.MaxSessionSize = 1024 })
	s.DB().Close()
	for _, tt := range []struct {
		key, js string
		want    error
	}{
		{"Not-A-Key", `{}`, store.ErrInvalidKey},
		{key(1), `{"blob": "` + randomText(2000) + `"}`, store.ErrTooLarge},
		{key(1), `{"_session_expiry": "next tuesday"}`, codec.ErrInvalidSession},
		{key(1), `{"_session_expiry": [1]}`, codec.ErrInvalidSession},
	} {
		for _, opt := range []store.SaveOptions{{MustCreate: true}, {}} {
			if _, err := s.Save(bg, tt.key, []byte(tt.js), opt); !errors.Is(err, tt.want) {
				t.Errorf("Save(%q, %.40s, %+v) on a closed database: %v, want %v", tt.key, tt.js, opt, err, tt.want)
			}
		}
	}
	bad := "../Not-A-Key"
	errs := map[string]error{}
	_, errs["Stat"] = s.Stat(bg, bad)
	_, errs["Load"] = s.Load(bg, bad)
	_, _, errs["ReadRaw"] = s.ReadRaw(bg, bad)
	_, errs["RemoveIf"] = s.RemoveIf(bg, bad, false, func(store.Entry) bool { return true })
	_, errs["Renew"] = s.Renew(bg, bad, time.Now(), store.Version{})
	_, errs["Rename from"] = s.Rename(bg, bad, key(1))
	_, errs["Rename to"] = s.Rename(bg, key(1), bad)
	for op, err := range errs {
		if !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("%s(%q) on a closed database: %v, want ErrInvalidKey", op, bad, err)
		}
	}
}

// randomText is n characters that do not compress.
func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)[:n]
}

// An edit that keeps the expiry keeps expire_date unless it changes
// _session_expiry: then it is what Django's get_expiry_date() gives now.
func TestSessionsKeepExpiryFollowsSessionExpiry(t *testing.T) {
	s, path := sqliteSessions(t)
	mustSave(t, s, key(1), `{"n": 1}`, store.SaveOptions{MustCreate: true})
	rawExec(t, path, `UPDATE django_session SET expire_date = '2029-02-03 04:05:06.000007'`)
	kept := time.Date(2029, 2, 3, 4, 5, 6, 7000, time.UTC)
	e := mustSave(t, s, key(1), `{"n": 2}`, store.SaveOptions{KeepExpiry: true})
	if stored := rawText(t, path, `SELECT CAST(expire_date AS TEXT) FROM django_session`); !e.Expiry.Equal(kept) || stored != "2029-02-03 04:05:06.000007" {
		t.Errorf("kept expiry: %v, stored %s", e.Expiry, stored)
	}
	before := time.Now()
	e = mustSave(t, s, key(1), `{"n": 3, "_session_expiry": 300}`, store.SaveOptions{KeepExpiry: true})
	if e.Expiry.Before(before.Add(300*time.Second-time.Millisecond)) || e.Expiry.After(time.Now().Add(300*time.Second)) {
		t.Errorf("set_expiry(300) in an edit: expires %v", e.Expiry)
	}
	fixed := e.Expiry
	e = mustSave(t, s, key(1), `{"n": 4, "_session_expiry": 300}`, store.SaveOptions{KeepExpiry: true})
	if !e.Expiry.Equal(fixed) {
		t.Errorf("an edit leaving _session_expiry alone moved the expiry %v -> %v", fixed, e.Expiry)
	}
	e = mustSave(t, s, key(1), `{"n": 5}`, store.SaveOptions{KeepExpiry: true})
	if e.Expiry.Before(before.Add(s.Config().CookieAge - time.Millisecond)) {
		t.Errorf("removing _session_expiry in an edit: expires %v", e.Expiry)
	}
	// A naive date is Django's TIME_ZONE wall clock (UTC by default).
	e = mustSave(t, s, key(1), `{"_session_expiry": "2030-05-06T07:08:09"}`, store.SaveOptions{KeepExpiry: true})
	if !e.Expiry.Equal(time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)) {
		t.Errorf("a naive _session_expiry: expires %v", e.Expiry)
	}
}

// A custom session model with NOT NULL columns of its own
// (django-user-sessions): creating is refused with a clear error, edits
// work and leave the other columns alone, and ScanUser goes through the
// indexed user_id column, checking each row's own session data.
func TestSessionsCustomModel(t *testing.T) {
	path := sqliteFile(t, userSessionsSQLiteDDL)
	cfg := sqliteConfig(t, path)
	cfg.Table = "user_sessions_session"
	s := sessionsOf(t, cfg)
	for _, opt := range []store.SaveOptions{{MustCreate: true}, {}} {
		_, err := s.Save(bg, key(1), []byte(`{"_auth_user_id": "42"}`), opt)
		if !errors.Is(err, dbstore.ErrCreateRefused) || !errors.Is(err, store.ErrCreateRefused) ||
			!strings.Contains(err.Error(), "user_agent") || !strings.Contains(err.Error(), "edited and removed") {
			t.Errorf("creating a session with %+v: %v", opt, err)
		}
	}
	donor := sessionsOf(t, sqliteConfig(t, sqliteFile(t, djangoSQLiteDDL)))
	data := func(js string) string {
		return string(mustSave(t, donor, key(99), js, store.SaveOptions{}).Raw)
	}
	insert := func(k, js string, userID any) {
		rawExec(t, path, `INSERT INTO user_sessions_session VALUES (?, ?, '2099-01-01 00:00:00', 'Firefox', '2026-01-01 00:00:00', NULL, ?)`,
			k, data(js), userID)
	}
	insert(key(1), `{"_auth_user_id": "42", "n": 1}`, 42)
	insert(key(2), `{"_auth_user_id": "42", "n": 2}`, 42)
	insert(key(3), `{"_auth_user_id": "7"}`, 42) // the column disagrees with the session
	insert(key(4), `{"_auth_user_id": "42"}`, nil)
	var mine []string
	if err := s.ScanUser(bg, "42", func(e store.Entry) error { mine = append(mine, e.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(mine, ",") != key(1)+","+key(2) {
		t.Errorf("ScanUser(42) through the index: %v", mine)
	}
	if err := s.ScanUser(bg, "not-a-number", func(store.Entry) error { t.Error("found"); return nil }); err != nil {
		t.Errorf("ScanUser of a non-integer id on an integer column: %v", err)
	}
	cur, err := s.Load(bg, key(1))
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, key(1), `{"_auth_user_id": "42", "n": 1, "edited": true}`, store.SaveOptions{IfMatch: cur.Version, KeepExpiry: true})
	if got := rawText(t, path, `SELECT user_agent || '|' || last_activity || '|' || user_id FROM user_sessions_session WHERE session_key = ?`, key(1)); got != "Firefox|2026-01-01 00:00:00|42" {
		t.Errorf("other columns after an edit: %s", got)
	}
	if _, err := s.Rename(bg, key(2), key(5)); err != nil {
		t.Fatal(err)
	}
	if got := rawText(t, path, `SELECT user_agent || '|' || user_id FROM user_sessions_session WHERE session_key = ?`, key(5)); got != "Firefox|42" {
		t.Errorf("other columns after a rename: %s", got)
	}
}

// A save refused for a value Django could not save writes nothing.
func TestSessionsRefusesUnsaveableExpiry(t *testing.T) {
	s, _ := sqliteSessions(t)
	saved := mustSave(t, s, key(1), `{"n": 1}`, store.SaveOptions{MustCreate: true})
	if _, err := s.Save(bg, key(1), []byte(`{"n": 2, "_session_expiry": {"days": 1}}`), store.SaveOptions{KeepExpiry: true}); !errors.Is(err, codec.ErrInvalidSession) {
		t.Errorf("Save: %v", err)
	}
	if raw, _, _ := s.ReadRaw(bg, key(1)); string(raw) != string(saved.Raw) {
		t.Errorf("a refused save changed the row")
	}
}

// Describe says a database holds the sessions, and where (Config.String,
// which never shows a password), with the table when it is not Django's.
func TestSessionsDescribe(t *testing.T) {
	s, path := sqliteSessions(t)
	if d := s.Describe(); d.Backend != "db" || d.Dir != "" || !d.Signed || d.Location != "sqlite:///"+path {
		t.Errorf("Describe() = %+v", d)
	}
	cfg := sqliteConfig(t, sqliteFile(t, userSessionsSQLiteDDL))
	cfg.Table = "user_sessions_session"
	if d := sessionsOf(t, cfg).Describe(); !strings.HasSuffix(d.Location, " table user_sessions_session") {
		t.Errorf("Describe() = %+v", d)
	}
}
