package djangosettings

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// systemPython has Debian's Django 3.2; the python3 on PATH may not.
const systemPython = "/usr/bin/python3"

// startProject creates a real project with `django-admin startproject`
// (Django 3.2) and appends extra to its settings. It skips without Django,
// and fails under CI=true.
func startProject(t *testing.T, extra string) string {
	t.Helper()
	if err := exec.Command(systemPython, "-c", "import django").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: %s cannot import django: %v", systemPython, err)
		}
		t.Skipf("%s cannot import django (Debian package python3-django): %v", systemPython, err)
	}
	dir := t.TempDir()
	out, err := exec.Command(systemPython, "-m", "django", "startproject", "mysite", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("startproject: %v\n%s", err, out)
	}
	f, err := os.OpenFile(filepath.Join(dir, "mysite", "settings.py"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + extra + "\n"); err != nil {
		t.Fatal(err)
	}
	return dir
}

const siteSettings = `
print("a settings module that prints on stdout")
SECRET_KEY = "tést-secret-kéy-with-ünicode-0123456789"
SECRET_KEY_FALLBACKS = ["old-key-1", b"old-key-2"]
SESSION_ENGINE = "mysite.sessions"
SESSION_FILE_PATH = "/var/lib/mysite/sessions"
SESSION_COOKIE_NAME = "sid"
SESSION_COOKIE_AGE = 3600
SESSION_SERIALIZER = "django.contrib.sessions.serializers.PickleSerializer"
`

// customEngine subclasses the file store, which changes the signing salt.
const customEngine = `
from django.contrib.sessions.backends.file import SessionStore as FileStore


class SiteStore(FileStore):
    pass


SessionStore = SiteStore
`

func TestReadStartProject(t *testing.T) {
	dir := startProject(t, siteSettings)
	if err := os.WriteFile(filepath.Join(dir, "mysite", "sessions.py"), []byte(customEngine), 0o644); err != nil {
		t.Fatal(err)
	}
	// Run from elsewhere: the project directory must come from Options.
	t.Chdir(t.TempDir())
	s, err := Read(context.Background(), Options{Module: "mysite.settings", Python: systemPython, Project: dir})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.SecretKey) != "tést-secret-kéy-with-ünicode-0123456789" {
		t.Errorf("SecretKey %q", s.SecretKey)
	}
	if len(s.FallbackKeys) != 2 || string(s.FallbackKeys[0]) != "old-key-1" || string(s.FallbackKeys[1]) != "old-key-2" {
		t.Errorf("FallbackKeys %q", s.FallbackKeys)
	}
	want := Settings{
		DjangoVersion: s.DjangoVersion, SecretKey: s.SecretKey, FallbackKeys: s.FallbackKeys,
		SessionEngine: "mysite.sessions", FileBackend: true, SessionFilePath: "/var/lib/mysite/sessions",
		CookieName: "sid", CookieAge: 3600, Serializer: "django.contrib.sessions.serializers.PickleSerializer",
		HashingAlgorithm: "sha256", KeySalt: "django.contrib.sessions.SiteStore",
	}
	if !strings.HasPrefix(s.DjangoVersion, "3.2") {
		t.Errorf("DjangoVersion %q, want 3.2.x", s.DjangoVersion)
	}
	if !equalSettings(*s, want) {
		t.Errorf("settings:\n got  %+v\n want %+v", *s, want)
	}
}

func equalSettings(a, b Settings) bool {
	if len(a.FallbackKeys) != len(b.FallbackKeys) {
		return false
	}
	for i := range a.FallbackKeys {
		if !bytes.Equal(a.FallbackKeys[i], b.FallbackKeys[i]) {
			return false
		}
	}
	a.FallbackKeys, b.FallbackKeys = nil, nil
	sa, sb := a.SecretKey, b.SecretKey
	a.SecretKey, b.SecretKey = nil, nil
	return bytes.Equal(sa, sb) && a.DjangoVersion == b.DjangoVersion && a.SessionEngine == b.SessionEngine &&
		a.FileBackend == b.FileBackend && a.SessionFilePath == b.SessionFilePath && a.CookieName == b.CookieName &&
		a.CookieAge == b.CookieAge && a.Serializer == b.Serializer && a.HashingAlgorithm == b.HashingAlgorithm &&
		a.KeySalt == b.KeySalt && a.EngineError == b.EngineError
}

// TestReadDefaults: a fresh project keeps Django's defaults (database
// sessions, no SESSION_FILE_PATH); Read reports them and the caller decides.
func TestReadDefaults(t *testing.T) {
	dir := startProject(t, "")
	t.Chdir(dir) // the default project directory is the working directory
	s, err := Read(context.Background(), Options{Module: "mysite.settings", Python: systemPython})
	if err != nil {
		t.Fatal(err)
	}
	if s.SessionEngine != "django.contrib.sessions.backends.db" || s.FileBackend || s.SessionFilePath != "" ||
		s.CookieName != "sessionid" || s.CookieAge != 1209600 || len(s.FallbackKeys) != 0 ||
		!strings.HasPrefix(string(s.SecretKey), "django-insecure-") {
		t.Errorf("defaults: %+v", s)
	}
}

func TestReadErrorsNeverShowTheSecret(t *testing.T) {
	dir := startProject(t, `SECRET_KEY = "do-not-leak-this-key"
raise RuntimeError("settings failed")`)
	_, err := Read(context.Background(), Options{Module: "mysite.settings", Python: systemPython, Project: dir})
	if err == nil {
		t.Fatal("settings that raise: no error")
	}
	if !strings.Contains(err.Error(), "settings failed") {
		t.Errorf("error does not say why: %v", err)
	}
	if strings.Contains(err.Error(), "do-not-leak-this-key") {
		t.Errorf("error shows the secret key: %v", err)
	}
	if _, err := Read(context.Background(), Options{Module: "no.such.module", Python: systemPython, Project: dir}); err == nil {
		t.Errorf("missing settings module: no error")
	}
	if _, err := Read(context.Background(), Options{Module: "mysite.settings", Python: filepath.Join(dir, "no-python"), Project: dir}); err == nil {
		t.Errorf("missing interpreter: no error")
	}
	if _, err := parse([]byte(`{"secret_key": "do-not-leak-this-key"`)); err == nil || strings.Contains(err.Error(), "leak") {
		t.Errorf("malformed answer: %v", err)
	}
}

// fakePython writes an executable that stands in for the interpreter.
func fakePython(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "python")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadBoundsWhatPythonWrites: an answer over its bound ends the process
// at once (it would otherwise block writing, until the timeout), and an
// endless stderr costs a bounded buffer while its last line still shows.
func TestReadBoundsWhatPythonWrites(t *testing.T) {
	t.Run("answer", func(t *testing.T) {
		py := fakePython(t, "head -c 3000000 /dev/zero >&3")
		start := time.Now()
		_, err := Read(context.Background(), Options{Module: "mysite.settings", Python: py, Project: t.TempDir(), Timeout: 20 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "answer over 1048576 bytes") {
			t.Errorf("Read of a 3 MB answer: %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Read of a 3 MB answer took %v", d)
		}
	})
	t.Run("stderr", func(t *testing.T) {
		py := fakePython(t, "head -c 200000000 /dev/zero >&2; echo; echo 'ImportError: the last line' >&2; exit 1")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Read(context.Background(), Options{Module: "mysite.settings", Python: py, Project: t.TempDir()})
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "ImportError: the last line") {
			t.Errorf("Read with 200 MB on stderr: %v", err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
			t.Errorf("Read allocated %d MiB for 200 MB of stderr", alloc>>20)
		}
	})
}

func TestTail(t *testing.T) {
	tl := &tail{max: 8}
	for _, s := range []string{"abc", "defgh", "ij", "", "klmnopqrstuvwxyz", "12", "3"} {
		tl.Write([]byte(s))
	}
	if got := tl.String(); got != "vwxyz123" {
		t.Errorf("tail = %q, want the last 8 bytes", got)
	}
	if cap(tl.b) > 32 {
		t.Errorf("tail holds %d bytes", cap(tl.b))
	}
}

// TestReadDatabase: for the database backend, the session model's write
// database (a router's choice), its table, USE_TZ and TIME_ZONE; the
// password travels with the secret key and never shows in %v.
func TestReadDatabase(t *testing.T) {
	dir := startProject(t, `
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "relative.sqlite3"},
    "sess": {"ENGINE": "django.db.backends.postgresql", "NAME": "site", "HOST": "/run/postgresql", "PORT": 5433,
             "USER": "web", "PASSWORD": "pässword-9", "TIME_ZONE": "Europe/Paris",
             "OPTIONS": {"sslmode": "require", "cursor_factory": object}},
}
class Router:
    def db_for_write(self, model, **hints):
        return "sess" if model._meta.app_label == "sessions" else None
DATABASE_ROUTERS = ["mysite.settings.Router"]
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
USE_TZ = False
TIME_ZONE = "Asia/Tokyo"
`)
	s, err := Read(context.Background(), Options{Module: "mysite.settings", Python: systemPython, Project: dir})
	if err != nil {
		t.Fatal(err)
	}
	d := s.Database
	if s.Backend != "cached_db" || s.SessionTable != "django_session" || s.UseTZ || s.TimeZone != "Asia/Tokyo" || d == nil {
		t.Fatalf("settings: %+v", s)
	}
	if d.Alias != "sess" || d.Engine != "django.db.backends.postgresql" || d.Name != "site" || d.Host != "/run/postgresql" ||
		d.Port != "5433" || d.User != "web" || string(d.Password) != "pässword-9" || d.TimeZone != "Europe/Paris" ||
		d.Options["sslmode"] != "require" || d.Options["cursor_factory"] != nil {
		t.Errorf("database: %#v, password %q", *d, d.Password)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v %s", *d, *d, *d, *d), "pässword") {
		t.Errorf("the password prints")
	}

	// Without routers: default; a relative SQLite NAME is the project's.
	dir = startProject(t, `
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "relative.sqlite3"}}
`)
	s, err = Read(context.Background(), Options{Module: "mysite.settings", Python: systemPython, Project: dir})
	if err != nil {
		t.Fatal(err)
	}
	if s.Backend != "db" || s.Database == nil || s.Database.Alias != "default" || s.Database.Name != filepath.Join(dir, "relative.sqlite3") || !s.UseTZ {
		t.Errorf("default database: %+v %#v", s, s.Database)
	}
}
