package dbcli

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sessionfs/sessionfs/integration/dbtest"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

const secretKey = "sessionfs-dbcli-test-secret-key-0123456789"

// engines are the three database engines every test runs on.
var engines = []dbstore.Engine{dbstore.SQLite, dbstore.PostgreSQL, dbstore.MySQL}

// site is a Django site whose sessions are in a database, and the
// sessionfs command line that serves the same table.
type site struct {
	t        testing.TB
	engine   dbstore.Engine
	dj       *harness.Django
	settings harness.Settings
	db       *dbtest.Database // nil for SQLite
	path     string           // SQLite file
	table    string
	keyFile  string
	// dbArgs name the database to sessionfs: the URL on the command line
	// for SQLite (no password), a URL file for the servers.
	dbArgs []string
}

type siteOptions struct {
	django       string // "3.2" (default), "4.2", "5.2"
	sessionModel string // "user_sessions": the custom model's table
}

func newSite(t testing.TB, engine dbstore.Engine, o siteOptions) *site {
	t.Helper()
	if o.django == "" {
		o.django = "3.2"
	}
	s := &site{t: t, engine: engine, dj: harness.RequireDjango(t, o.django), table: "django_session"}
	var djdb map[string]any
	switch engine {
	case dbstore.SQLite:
		s.path = filepath.Join(t.TempDir(), "db.sqlite3")
		djdb = map[string]any{"ENGINE": "django.db.backends.sqlite3", "NAME": s.path}
		s.dbArgs = []string{"--database-url", "sqlite:///" + s.path}
	default:
		srv := dbtest.Postgres(t)
		if engine == dbstore.MySQL {
			srv = dbtest.MariaDB(t)
		}
		s.db = srv.NewDatabase(t)
		djdb = s.db.Django()
		urlFile := filepath.Join(t.TempDir(), "database-url")
		if err := os.WriteFile(urlFile, []byte(s.db.URLWithPassword(false)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s.dbArgs = []string{"--database-url-file", urlFile}
	}
	s.keyFile = filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(s.keyFile, []byte(secretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.settings = harness.Settings{SecretKey: secretKey, Database: djdb, SessionModel: o.sessionModel}
	engineName := "db"
	if o.sessionModel == "user_sessions" {
		s.table = "user_sessions_session"
		engineName = "user_sessions.backends.db"
	}
	s.dbArgs = append([]string{"--session-engine", engineName}, s.dbArgs...)
	var tables []string
	s.dj.Call(t, s.settings, harness.OpMigrate, nil, &tables)
	return s
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// run runs `sessionfs` with the site's database settings before the
// command name and args after it, as an operator would.
func (s *site) run(stdin string, args ...string) result {
	s.t.Helper()
	argv := append(append(append([]string{}, s.dbArgs...), "--secret-key-file", s.keyFile), args...)
	return runBinary(s.t, nil, stdin, argv...)
}

// must is run that requires exit code 0.
func (s *site) must(stdin string, args ...string) string {
	s.t.Helper()
	r := s.run(stdin, args...)
	if r.code != 0 {
		s.t.Fatalf("sessionfs %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func runBinary(t testing.TB, env []string, stdin string, argv ...string) result {
	t.Helper()
	cmd := exec.Command(harness.Binary(t), argv...)
	cmd.Env = append(withoutDBEnv(os.Environ()), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("sessionfs %v hung for 2 minutes\nstderr: %s", argv, stderr.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// withoutDBEnv drops the variables that would name another database.
func withoutDBEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "DATABASE_URL", "DATABASE_URL_FILE", "SESSION_ENGINE", "DJANGO_SECRET_KEY", "SESSION_DB_TABLE", "USE_TZ", "TIME_ZONE", "DB_TIME_ZONE",
			"PGPASSWORD", "PGSERVICE", "PGHOST", "PGUSER", "PGDATABASE":
			continue
		}
		out = append(out, kv)
	}
	return out
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

// djangoLogin logs users in through django.contrib.auth, each session
// saved under its key; it returns the sessions as Django saved them.
func (s *site) djangoLogin(items ...harness.LoginItem) map[string]string {
	s.t.Helper()
	var res []harness.LoginResult
	s.dj.Call(s.t, s.settings, harness.OpLogin, items, &res)
	out := map[string]string{}
	for _, r := range res {
		out[r.Key] = string(r.Data)
	}
	return out
}

// djangoLoad is what Django's load() returns for each key: the session,
// or "" when Django finds nothing (missing, expired, undecodable).
func (s *site) djangoLoad(keys ...string) map[string]string {
	s.t.Helper()
	var res []harness.LoadResult
	s.dj.Call(s.t, s.settings, harness.OpLoad, keys, &res)
	out := map[string]string{}
	for i, r := range res {
		if !r.OK {
			s.t.Fatalf("Django load of %s: %s %s", keys[i], r.Error, r.Message)
		}
		if r.KeyKept {
			out[keys[i]] = string(r.Data)
		} else {
			out[keys[i]] = ""
		}
	}
	return out
}

// djangoRows is the session model's rows as Django reads them, by key.
func (s *site) djangoRows() map[string]harness.Row {
	s.t.Helper()
	var rows []harness.Row
	s.dj.Call(s.t, s.settings, harness.OpRows, nil, &rows)
	out := map[string]harness.Row{}
	for _, r := range rows {
		out[r.Key] = r
	}
	return out
}

// raw opens the site's database as its owner.
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

// exec runs a statement on the site's database; ? placeholders become $n
// on PostgreSQL.
func (s *site) exec(q string, args ...any) {
	s.t.Helper()
	if s.engine == dbstore.PostgreSQL {
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	if _, err := s.raw().Exec(q, args...); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
}

// wantLoads fails unless Django loads each key as want says: the session
// JSON (compared member by member), or "" for nothing.
func (s *site) wantLoads(want map[string]string) {
	s.t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	got := s.djangoLoad(keys...)
	for k, w := range want {
		g := got[k]
		if w == "" || g == "" {
			if (w == "") != (g == "" || g == "{}") {
				s.t.Errorf("Django loads %s as %q, want %q", k, g, w)
			}
			continue
		}
		same, diff, err := harness.SameSession([]byte(g), []byte(w))
		if err != nil {
			s.t.Fatalf("%s: %v", k, err)
		}
		if !same {
			s.t.Errorf("Django loads %s: %s\n got: %s\nwant: %s", k, diff, g, w)
		}
	}
}

// lsKeys is the keys `sessionfs ls --json` lists with args.
func (s *site) lsKeys(args ...string) map[string]lsLine {
	s.t.Helper()
	out := s.must("", append([]string{"ls", "--json"}, args...)...)
	lines := map[string]lsLine{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var l lsLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			s.t.Fatalf("ls --json line %q: %v", line, err)
		}
		lines[l.Key] = l
	}
	return lines
}

type lsLine struct {
	Key     string  `json:"key"`
	Expired bool    `json:"expired"`
	UserID  *string `json:"user_id"`
	Error   string  `json:"error"`
}

func keyOf(prefix string, i int) string {
	k := fmt.Sprintf("%s%d", prefix, i)
	return k + strings.Repeat("0", 32-len(k))
}

func sameJSON(t testing.TB, what, got, want string) {
	t.Helper()
	same, diff, err := harness.SameSession([]byte(got), []byte(want))
	if err != nil {
		t.Fatalf("%s: %v (%q)", what, err, got)
	}
	if !same {
		t.Errorf("%s: %s\n got: %s\nwant: %s", what, diff, got, want)
	}
}

func engineName(e dbstore.Engine) string {
	if e == dbstore.MySQL {
		return "mariadb"
	}
	return string(e)
}

// freePort is a loopback port nothing listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
