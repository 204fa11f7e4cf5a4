// Package cacheinterop tests the built sessionfs binary over Django's cache
// session backend: real Django (3.2 with django-redis and pymemcache, 4.2
// and 5.2 with their own RedisCache) writing to private Redis and Memcached
// servers, sessionfs's CLI and a real mount reading and changing what it
// wrote, and Django loading exactly that.
package cacheinterop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/dbtest"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store/cachestore/cachetest"
)

func TestMain(m *testing.M) {
	code := cachetest.Main(m)
	dbtest.Shutdown()
	os.Exit(code)
}

// site is one Django site configuration over one cache server.
type site struct {
	t       *testing.T
	dj      *harness.Django
	url     string // the cache URL sessionfs and Django use (no password)
	backend string
	prefix  string
	version int
	options map[string]string
	engine  string         // cache (default) or cached_db
	sqlite  string         // cached_db: the SQLite database file
	djdb    map[string]any // cached_db: DATABASES["default"] instead (PostgreSQL)
	extra   []string       // more settings flags (cached_db's database and secret key)
}

// djangoLocation is the LOCATION Django's backend takes for s.url.
func (s *site) djangoLocation() string {
	if strings.HasPrefix(s.url, "memcached://") {
		return strings.TrimPrefix(s.url, "memcached://")
	}
	return s.url
}

func (s *site) settings() map[string]any {
	opts := map[string]any{}
	for k, v := range s.options {
		opts[k] = v
	}
	m := map[string]any{"backend": s.backend, "location": s.djangoLocation(), "key_prefix": s.prefix, "version": s.version,
		"options": opts, "engine": s.engine}
	if s.sqlite != "" {
		m["database"] = s.sqlite
	}
	if s.djdb != nil {
		m["database"] = s.djdb
	}
	return m
}

// django runs one op of djcache.py (the cachestore tests' Django driver).
func (s *site) django(op string, req, resp any) {
	s.t.Helper()
	if err := s.runDjango(op, req, resp); err != nil {
		s.t.Fatal(err)
	}
}

func (s *site) runDjango(op string, req, resp any) error {
	in, err := json.Marshal(map[string]any{"settings": s.settings(), "op": op, "req": req})
	if err != nil {
		return err
	}
	script, err := os.ReadFile("../../store/cachestore/testdata/djcache.py")
	if err != nil {
		return err
	}
	cmd := exec.Command(s.dj.Python, "-c", string(script))
	cmd.Env = []string{"PYTHONIOENCODING=utf-8"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PYTHONPATH=") && !strings.HasPrefix(kv, "PYTHONHOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if s.dj.PythonPath != "" {
		cmd.Env = append(cmd.Env, "PYTHONPATH="+s.dj.PythonPath)
	}
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("django %s %s: %v\n%s", s.dj.Version, op, err, stderr.Bytes())
	}
	var answer struct{ Resp json.RawMessage }
	if err := json.Unmarshal(out, &answer); err != nil {
		return fmt.Errorf("django %s %s: %v: %s", s.dj.Version, op, err, out)
	}
	if resp != nil {
		if err := json.Unmarshal(answer.Resp, resp); err != nil {
			return fmt.Errorf("django %s %s: %v: %s", s.dj.Version, op, err, answer.Resp)
		}
	}
	return nil
}

// create has Django create sessions holding data, and returns their keys.
func (s *site) create(data ...string) []string {
	s.t.Helper()
	req := make([]map[string]any, len(data))
	for i, d := range data {
		req[i] = map[string]any{"data": json.RawMessage(d)}
	}
	var keys []string
	s.django("create", req, &keys)
	return keys
}

// createRich has Django create a session holding data and the values JSON
// has no type for (Decimal, set, tuple, bytes, datetimes with and without
// a zone, date, timedelta), and returns its key.
func (s *site) createRich(data string) string {
	s.t.Helper()
	var keys []string
	s.django("create", []map[string]any{{"data": json.RawMessage(data), "rich": true}}, &keys)
	return keys[0]
}

// load is what Django loads for key, in sessionfs's tagged JSON; nil when
// Django finds no session.
func (s *site) load(key string) json.RawMessage {
	s.t.Helper()
	var out []json.RawMessage
	s.django("load", []string{key}, &out)
	if len(out) != 1 || string(out[0]) == "null" {
		return nil
	}
	return out[0]
}

// loads is what Django loads for each key, in one Django process; nil for
// a key Django finds no session under.
func (s *site) loads(keys ...string) map[string]json.RawMessage {
	s.t.Helper()
	var out []json.RawMessage
	s.django("load", keys, &out)
	m := map[string]json.RawMessage{}
	for i, k := range keys {
		if i < len(out) && string(out[i]) != "null" {
			m[k] = out[i]
		}
	}
	return m
}

// want checks that Django loads exactly want for each key ("" for none),
// in one Django process.
func (s *site) want(what string, want map[string]string) {
	s.t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	got := s.loads(keys...)
	for _, k := range keys {
		switch g, ok := got[k]; {
		case want[k] == "" && ok:
			s.t.Fatalf("%s: Django still loads session %s: %s", what, k, g)
		case want[k] != "" && !ok:
			s.t.Fatalf("%s: Django loads no session %s, want %s", what, k, want[k])
		case want[k] != "":
			sameSession(s.t, what+": "+k, g, []byte(want[k]))
		}
	}
}

// wantLoad checks that Django loads exactly want for key.
func (s *site) wantLoad(what, key, want string) {
	s.t.Helper()
	got := s.load(key)
	if got == nil {
		s.t.Fatalf("%s: Django loads no session %s, want %s", what, key, want)
	}
	sameSession(s.t, what, got, []byte(want))
}

func (s *site) wantGone(what, key string) {
	s.t.Helper()
	if got := s.load(key); got != nil {
		s.t.Fatalf("%s: Django still loads session %s: %s", what, key, got)
	}
}

func sameSession(t *testing.T, what string, got, want []byte) {
	t.Helper()
	ok, where, err := harness.SameSession(got, want)
	if err != nil || !ok {
		t.Fatalf("%s: got %s\nwant %s\ndiffer at %s %v", what, got, want, where, err)
	}
}

// args are the settings flags of s, given before the command name.
func (s *site) args() []string {
	engine := s.engine
	if engine == "" {
		engine = "cache"
	}
	a := []string{"--session-engine", engine, "--cache-url", s.url, "--cache-backend", s.backend}
	if s.prefix != "" {
		a = append(a, "--cache-key-prefix", s.prefix)
	}
	if s.version != 0 {
		a = append(a, "--cache-version", strconv.Itoa(s.version))
	}
	for k, v := range s.options {
		a = append(a, "--cache-option", k+"="+v)
	}
	return append(a, s.extra...)
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs sessionfs with s's settings, then cmd.
func (s *site) cli(stdin string, cmd ...string) result {
	s.t.Helper()
	return run(s.t, stdin, append(s.args(), cmd...)...)
}

// mustCLI is cli that fails the test unless the exit code is 0.
func (s *site) mustCLI(stdin string, cmd ...string) string {
	s.t.Helper()
	r := s.cli(stdin, cmd...)
	if r.code != 0 {
		s.t.Fatalf("sessionfs %q: exit %d\nstderr: %s", cmd, r.code, r.stderr)
	}
	return r.stdout
}

// run runs the binary with a clean environment (no setting from ours).
func run(t *testing.T, stdin string, argv ...string) result {
	t.Helper()
	c := exec.Command(harness.Binary(t), argv...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DJANGO_") && !strings.HasPrefix(kv, "SESSION") && !strings.HasPrefix(kv, "CACHE_") {
			c.Env = append(c.Env, kv)
		}
	}
	c.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running sessionfs %q: %v", argv, err)
	}
	return r
}

// lsRecord is one line of ls --json.
type lsRecord struct {
	Key        string  `json:"key"`
	UserID     *string `json:"user_id"`
	Format     *string `json:"format"`
	Serializer *string `json:"serializer"`
	KeyUsed    *string `json:"key_used"`
	Expires    *string `json:"expires"`
	Error      string  `json:"error"`
}

func (s *site) ls() map[string]lsRecord {
	s.t.Helper()
	out := map[string]lsRecord{}
	for _, line := range strings.Split(strings.TrimSpace(s.mustCLI("", "ls", "--json")), "\n") {
		if line == "" {
			continue
		}
		var r lsRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			s.t.Fatalf("ls --json line %q: %v", line, err)
		}
		out[r.Key] = r
	}
	return out
}

// sh runs a shell script; it fails the test on a non-zero exit.
func sh(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("sh -c %q: %v\n%s", script, err, out)
	}
	return string(out)
}

func fileNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
