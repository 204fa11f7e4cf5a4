package dbinterop

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/dbtest"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

const secretKey = "sessionfs-backends-test-secret-key-0123456789"

// engines are the three database engines every interop test runs on.
var engines = []dbstore.Engine{dbstore.SQLite, dbstore.PostgreSQL, dbstore.MySQL}

// site is one Django site whose sessions live in a database, and sessionfs's
// view of the same table.
type site struct {
	t        testing.TB
	engine   dbstore.Engine
	dj       *harness.Django
	settings harness.Settings
	db       *dbtest.Database // nil for SQLite
	path     string           // SQLite file
	cfg      dbstore.Config
	store    *dbstore.Store
	codec    *codec.Codec
}

// siteOptions vary a site from Django's defaults.
type siteOptions struct {
	django       string // "3.2" (default), "4.2", "5.2"
	noTZ         bool   // USE_TZ = False with TIME_ZONE = timeZone
	timeZone     string // TIME_ZONE (default Europe/Paris when noTZ)
	dbTimeZone   string // DATABASES["default"]["TIME_ZONE"]
	sessionModel string // "user_sessions"
	noMigrate    bool
}

// newSite makes an empty database, lets Django migrate it and opens it
// with dbstore configured as the site is.
func newSite(t testing.TB, engine dbstore.Engine, o siteOptions) *site {
	t.Helper()
	if o.django == "" {
		o.django = "3.2"
	}
	if o.noTZ && o.timeZone == "" {
		o.timeZone = "Europe/Paris"
	}
	s := &site{t: t, engine: engine, dj: harness.RequireDjango(t, o.django)}
	var djdb map[string]any
	switch engine {
	case dbstore.SQLite:
		s.path = filepath.Join(t.TempDir(), "db.sqlite3")
		djdb = map[string]any{"ENGINE": "django.db.backends.sqlite3", "NAME": s.path}
		cfg, err := dbstore.ParseURL("sqlite:///" + s.path)
		if err != nil {
			t.Fatal(err)
		}
		s.cfg = cfg
	case dbstore.PostgreSQL, dbstore.MySQL:
		srv := dbtest.Postgres(t)
		if engine == dbstore.MySQL {
			srv = dbtest.MariaDB(t)
		}
		s.db = srv.NewDatabase(t)
		djdb = s.db.Django()
		s.cfg = s.db.Config(t, true)
	}
	if o.dbTimeZone != "" {
		djdb["TIME_ZONE"] = o.dbTimeZone
	}
	useTZ := !o.noTZ
	s.settings = harness.Settings{SecretKey: secretKey, Database: djdb, UseTZ: &useTZ, TimeZone: o.timeZone, SessionModel: o.sessionModel}
	s.cfg.UseTZ, s.cfg.TimeZone, s.cfg.DBTimeZone = useTZ, o.timeZone, o.dbTimeZone
	if o.sessionModel == "user_sessions" {
		s.cfg.Table = "user_sessions_session"
	}
	c, err := codec.New(codec.Config{SecretKey: []byte(secretKey)})
	if err != nil {
		t.Fatal(err)
	}
	s.codec = c
	if !o.noMigrate {
		var tables []string
		s.dj.Call(t, s.settings, harness.OpMigrate, nil, &tables)
		s.open()
	}
	return s
}

// open (re)opens the dbstore of the site.
func (s *site) open() {
	s.t.Helper()
	st, err := dbstore.Open(context.Background(), s.cfg)
	if err != nil {
		s.t.Fatalf("dbstore.Open(%s): %v", s.cfg, err)
	}
	s.t.Cleanup(func() { st.Close() })
	s.store = st
}

// name labels subtests.
func (o siteOptions) name(engine dbstore.Engine) string {
	n := fmt.Sprintf("%s/django%s", engine, o.django)
	if o.noTZ {
		n += "/USE_TZ=False," + o.timeZone
	} else {
		n += "/USE_TZ=True"
	}
	if o.dbTimeZone != "" {
		n += ",db=" + o.dbTimeZone
	}
	return n
}

// raw opens the site's database as Django's user would.
func (s *site) raw() *sql.DB {
	s.t.Helper()
	if s.engine == dbstore.SQLite {
		db, err := sql.Open("sqlite", s.path)
		if err != nil {
			s.t.Fatal(err)
		}
		s.t.Cleanup(func() { db.Close() })
		return db
	}
	return s.db.Open(s.t)
}

// storedExpire is expire_date as the database holds it, as text.
func (s *site) storedExpire(key string) string {
	s.t.Helper()
	q := "SELECT CAST(expire_date AS TEXT) FROM " + s.cfg.Table + " WHERE session_key = ?"
	switch s.engine {
	case dbstore.PostgreSQL:
		q = "SELECT expire_date::text FROM " + s.cfg.Table + " WHERE session_key = $1"
	case dbstore.MySQL:
		q = "SELECT CAST(expire_date AS CHAR) FROM " + s.cfg.Table + " WHERE session_key = ?"
	}
	var v string
	if err := s.raw().QueryRow(q, key).Scan(&v); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
	return v
}

// encode is session_data for a session dict, as the codec writes it.
func (s *site) encode(js string) string {
	s.t.Helper()
	b, err := s.codec.Encode([]byte(js), codec.EncodeOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

// decode is the session dict of session_data, compact JSON.
func (s *site) decode(data string) string {
	s.t.Helper()
	js, _, err := s.codec.Decode([]byte(data))
	if err != nil {
		s.t.Fatalf("decoding %.60q: %v", data, err)
	}
	return string(js)
}

// djangoSave saves sessions through Django's SessionStore.save().
func (s *site) djangoSave(mustCreate bool, sessions map[string]string) {
	s.t.Helper()
	var items []harness.SaveItem
	for k, js := range sessions {
		items = append(items, harness.SaveItem{Key: k, Data: json.RawMessage(js), MustCreate: mustCreate})
	}
	var res []harness.SaveResult
	s.dj.Call(s.t, s.settings, harness.OpSave, items, &res)
	for _, r := range res {
		if !r.OK {
			s.t.Fatalf("Django save of %s: %s", r.Key, r.Error)
		}
	}
}

// djangoLoad is SessionStore(key).load() for each key.
func (s *site) djangoLoad(keys ...string) []harness.LoadResult {
	s.t.Helper()
	var res []harness.LoadResult
	s.dj.Call(s.t, s.settings, harness.OpLoad, keys, &res)
	return res
}

// djangoRows is the session model's rows as Django reads them, by key.
func (s *site) djangoRows(keys ...string) map[string]harness.Row {
	s.t.Helper()
	var req any
	if keys != nil {
		req = keys
	}
	var rows []harness.Row
	s.dj.Call(s.t, s.settings, harness.OpRows, req, &rows)
	out := map[string]harness.Row{}
	for _, r := range rows {
		out[r.Key] = r
	}
	return out
}

// djangoInstant is the instant of a datetime Django printed: aware ones
// carry their offset; naive ones are wall clock in TIME_ZONE (USE_TZ=False).
func (s *site) djangoInstant(iso string) time.Time {
	s.t.Helper()
	for _, layout := range []string{"2006-01-02T15:04:05.999999-07:00", "2006-01-02T15:04:05-07:00"} {
		if t, err := time.Parse(layout, iso); err == nil {
			return t
		}
	}
	loc := time.UTC
	if !s.cfg.UseTZ {
		var err error
		if loc, err = time.LoadLocation(s.cfg.TimeZone); err != nil {
			s.t.Fatal(err)
		}
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05.999999", iso, loc)
	if err != nil {
		s.t.Fatalf("Django's datetime %q: %v", iso, err)
	}
	return t
}

// all is every row through dbstore.Scan, by key.
func (s *site) all() map[string]dbstore.Row {
	s.t.Helper()
	out := map[string]dbstore.Row{}
	err := s.store.Scan(context.Background(), dbstore.ScanOptions{}, func(r dbstore.Row) error {
		out[r.Key] = r
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

func sameJSON(t testing.TB, what, got, want string) {
	t.Helper()
	same, diff, err := harness.SameSession([]byte(got), []byte(want))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !same {
		t.Errorf("%s: %s\n got: %s\nwant: %s", what, diff, got, want)
	}
}

func keyOf(prefix string, i int) string {
	k := fmt.Sprintf("%s%d", prefix, i)
	return k + strings.Repeat("0", 32-len(k))
}

// netListenFree is a loopback port nothing listens on.
func netListenFree() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// newCodec is the codec of the sites' SECRET_KEY.
func newCodec(t testing.TB) *codec.Codec {
	t.Helper()
	c, err := codec.New(codec.Config{SecretKey: []byte(secretKey)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
