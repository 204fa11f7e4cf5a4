package dbcli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// settingsModule writes a Django settings module named name into a new
// project directory and returns the directory.
func settingsModule(t *testing.T, name, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name+".py"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func pyDict(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) // the JSON of strings and objects is a Python literal
}

// fromDjango runs sessionfs with --django-settings and nothing else about
// the site: the engine, the database (password included), the table,
// USE_TZ and TIME_ZONE come from the settings module.
func (s *site) fromDjango(t *testing.T, project, module, stdin string, args ...string) result {
	t.Helper()
	var env []string
	if s.dj.PythonPath != "" {
		env = append(env, "PYTHONPATH="+s.dj.PythonPath)
	}
	argv := append([]string{"--django-settings", module, "--django-project", project, "--python", s.dj.Python}, args...)
	return runBinary(t, env, stdin, argv...)
}

// TestDBFromDjangoSettings: --django-settings reads SESSION_ENGINE, the
// session database (its password over the private pipe), USE_TZ and
// TIME_ZONE from a real settings module. On SQLite with USE_TZ = False
// the naive expire_date is Tokyo wall clock: a session expired a minute
// ago is expired to sessionfs only if it read TIME_ZONE (as UTC it would
// have nine hours left).
func TestDBFromDjangoSettings(t *testing.T) {
	t.Parallel()
	t.Run("sqlite/USE_TZ=False", func(t *testing.T) {
		t.Parallel()
		s := newSite(t, dbstore.SQLite, siteOptions{})
		useTZ := false
		s.settings.UseTZ, s.settings.TimeZone = &useTZ, "Asia/Tokyo"
		live, expired := keyOf("live", 1), keyOf("expired", 1)
		s.djangoSave(true, map[string]string{live: `{"a": 1}`, expired: `{"b": 2, "_session_expiry": -60}`})
		project := settingsModule(t, "tokyo_settings", fmt.Sprintf(`
SECRET_KEY = %q
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"]
DATABASES = {"default": %s}
SESSION_ENGINE = "django.contrib.sessions.backends.db"
USE_TZ = False
TIME_ZONE = "Asia/Tokyo"
`, secretKey, pyDict(t, s.settings.Database)))

		r := s.fromDjango(t, project, "tokyo_settings", "", "ls", "--expired", "--json")
		if r.code != 0 || !strings.Contains(r.stdout, expired) || strings.Contains(r.stdout, live) {
			t.Fatalf("ls --expired from Django's settings: exit %d\n%s%s\nwant only %s", r.code, r.stdout, r.stderr, expired)
		}
		// Without TIME_ZONE the same rows read nine hours off.
		if got := s.lsKeys("--expired"); len(got) != 0 {
			t.Errorf("control: with USE_TZ assumed, ls --expired lists %v; the test would prove nothing", got)
		}
		if r := s.fromDjango(t, project, "tokyo_settings", `{"a": 3}`, "put", live); r.code != 0 {
			t.Fatalf("put: exit %d: %s", r.code, r.stderr)
		}
		s.wantLoads(map[string]string{live: `{"a": 3}`, expired: ""})
	})

	t.Run("postgresql/router", func(t *testing.T) {
		t.Parallel()
		// Sessions in a second database that a router picks for the
		// session model; the default database is another (empty) file.
		s := newSite(t, dbstore.PostgreSQL, siteOptions{})
		key := keyOf("routed", 1)
		s.djangoSave(true, map[string]string{key: `{"r": 1}`})
		other := filepath.Join(t.TempDir(), "default.sqlite3")
		project := settingsModule(t, "routed_settings", fmt.Sprintf(`
SECRET_KEY = %q
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": %q}, "sessions": %s}
DATABASE_ROUTERS = ["routed_settings.SessionRouter"]
SESSION_ENGINE = "django.contrib.sessions.backends.db"

class SessionRouter:
    def db_for_write(self, model, **hints):
        if model._meta.app_label == "sessions":
            return "sessions"
        return None
`, secretKey, other, pyDict(t, s.settings.Database)))
		r := s.fromDjango(t, project, "routed_settings", "", "show", key)
		if r.code != 0 {
			t.Fatalf("show from Django's settings: exit %d: %s", r.code, r.stderr)
		}
		sameJSON(t, "show", r.stdout, `{"r": 1}`)
		if strings.Contains(r.stderr, s.db.Password) {
			t.Errorf("the password is printed: %s", r.stderr)
		}
		// An explicit flag still wins over what the settings say.
		if r := s.fromDjango(t, project, "routed_settings", "", "--db-table", "no_such_table", "ls"); r.code != 1 || !strings.Contains(r.stderr, "no_such_table") {
			t.Errorf("--db-table over Django's: exit %d: %s", r.code, r.stderr)
		}
	})
}

// TestDBDemo: `sessionfs demo --session-engine db` needs nothing: it makes
// a SQLite database with Django's session table, seeds it, mounts it, and
// Django configured as the banner says loads the sessions.
func TestDBDemo(t *testing.T) {
	t.Parallel()
	dj := harness.RequireDjango(t, "3.2")
	dir := t.TempDir()
	m := startDemo(t, dir, "--session-engine", "db")
	keys := names(t, m)
	if len(keys) != 3 {
		t.Fatalf("demo sessions: %v", keys)
	}
	key, err := os.ReadFile(filepath.Join(dir, ".sessions.key"))
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, engine: dbstore.SQLite, dj: dj, settings: harness.Settings{SecretKey: strings.TrimSpace(string(key)),
		Database: map[string]any{"ENGINE": "django.db.backends.sqlite3", "NAME": filepath.Join(dir, ".sessions", "db.sqlite3")}}}
	want := map[string]string{}
	for _, name := range keys {
		want[strings.TrimSuffix(name, ".json")] = mustShell(t, "cat "+filepath.Join(m, name))
	}
	s.wantLoads(want)
}

// startDemo runs `sessionfs demo ARGS` in dir until the test ends and
// returns its mount point.
func startDemo(t *testing.T, dir string, args ...string) string {
	t.Helper()
	mounttest.Require(t)
	cmd := exec.Command(harness.Binary(t), append([]string{"demo"}, args...)...)
	cmd.Dir = dir
	cmd.Env = withoutDBEnv(os.Environ())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "mnt")
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "sessionfs: mounted") {
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if mounttest.IsMounted(mnt) {
			exec.Command("fusermount3", "-u", "-z", mnt).Run()
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo exited: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("demo not ready after 30 s\n%s", stderr.String())
	}
	return mnt
}
