package integration

// --django-settings and --from-django against a real project made by
// `django-admin startproject` (Django 3.2): sessionfs needs no other
// configuration, and explicit flags still win.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
)

const siteSecret = "site-secret-key-from-settings-py-0123456789"

// startProject creates a Django 3.2 project in a new directory and appends
// settings to mysite/settings.py.
func startProject(t *testing.T, settings string) string {
	t.Helper()
	harness.RequireDjango(t, "3.2")
	dir := t.TempDir()
	out, err := exec.Command(harness.SystemPython, "-m", "django", "startproject", "mysite", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("startproject: %v\n%s", err, out)
	}
	f, err := os.OpenFile(filepath.Join(dir, "mysite", "settings.py"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + settings + "\n"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runIn runs the binary in directory wd with env added and stdin (no inherited
// DJANGO_* or SESSION* variables).
func runIn(t *testing.T, wd string, env []string, stdin []byte, argv ...string) cliResult {
	t.Helper()
	return runCommand(t, wd, env, stdin, append([]string{harness.Binary(t)}, argv...)...)
}

// runCommand is runIn of any command line (the binary under strace, say).
func runCommand(t *testing.T, wd string, env []string, stdin []byte, argv ...string) cliResult {
	t.Helper()
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = wd
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DJANGO_") && !strings.HasPrefix(kv, "SESSION") {
			c.Env = append(c.Env, kv)
		}
	}
	c.Env = append(c.Env, env...)
	c.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	res := cliResult{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running sessionfs %v: %v", argv, err)
	}
	return res
}

func TestOpsDjangoSettings(t *testing.T) {
	dj := harness.RequireDjango(t, "3.2")
	sessions := t.TempDir()
	project := startProject(t, `
SECRET_KEY = "`+siteSecret+`"
SESSION_ENGINE = "django.contrib.sessions.backends.file"
SESSION_FILE_PATH = "`+sessions+`"
SESSION_COOKIE_NAME = "sitesid"
SESSION_COOKIE_AGE = 3600
`)
	site := harness.Settings{SecretKey: siteSecret, SessionFilePath: sessions, CookieName: "sitesid", CookieAge: 3600}
	var saved []harness.SaveResult
	dj.Call(t, site, harness.OpSave, []harness.SaveItem{
		{Key: "djangosite00001", Data: loginSession("5", ""), MustCreate: true},
		{Key: "siteexpired0001", Data: loginSession("6", ""), MustCreate: true},
	}, &saved)
	setMtime(t, filepath.Join(sessions, "sitesidsiteexpired0001"), time.Now().Add(-2*time.Hour))

	fromSettings := []string{"--django-settings", "mysite.settings", "--python", harness.SystemPython, "--django-project", project}
	ls := func(res cliResult) map[string]opsLsLine {
		t.Helper()
		if res.code != 0 {
			t.Fatalf("ls: exit %d: %s", res.code, res.stderr)
		}
		out := map[string]opsLsLine{}
		for _, r := range jsonLines[opsLsLine](t, res.stdout) {
			out[r.Key] = r
		}
		return out
	}
	// No secret, directory or cookie settings but the project's.
	got := ls(runIn(t, t.TempDir(), nil, nil, append([]string{"ls", "--json"}, fromSettings...)...))
	live, expired := got["djangosite00001"], got["siteexpired0001"]
	if len(got) != 2 || live.UserID == nil || *live.UserID != "5" || live.Expired || !expired.Expired {
		t.Errorf("ls with --django-settings: %+v (want user 5 live, the 2-hour-old one expired by SESSION_COOKIE_AGE 3600)", got)
	}
	// --from-django takes $DJANGO_SETTINGS_MODULE, and the project from the working directory.
	got = ls(runIn(t, project, []string{"DJANGO_SETTINGS_MODULE=mysite.settings"}, nil, "ls", "--json", "--from-django", "--python", harness.SystemPython))
	if len(got) != 2 {
		t.Errorf("ls --from-django: %+v", got)
	}
	// Explicit settings win: a flag, and an environment variable.
	got = ls(runIn(t, t.TempDir(), nil, nil, append([]string{"ls", "--json", "--cookie-name", "sessionid"}, fromSettings...)...))
	if len(got) != 0 {
		t.Errorf("--cookie-name sessionid did not win over SESSION_COOKIE_NAME: %+v", got)
	}
	got = ls(runIn(t, t.TempDir(), []string{"SESSION_COOKIE_AGE=86400"}, nil, append([]string{"ls", "--json"}, fromSettings...)...))
	if got["siteexpired0001"].Expired {
		t.Errorf("$SESSION_COOKIE_AGE did not win over the project's SESSION_COOKIE_AGE")
	}
	// What sessionfs writes with the project's settings, Django reads.
	put := runIn(t, t.TempDir(), nil, []byte(`{"written": "by sessionfs"}`), append([]string{"put", "--create"}, append(fromSettings, "sfswritten00001")...)...)
	if put.code != 0 {
		t.Fatalf("put: exit %d: %s", put.code, put.stderr)
	}
	var loads []harness.LoadResult
	dj.Call(t, site, harness.OpLoad, []string{"sfswritten00001"}, &loads)
	if !loads[0].OK || !loads[0].KeyKept {
		t.Errorf("Django cannot load what sessionfs wrote with --django-settings: %+v", loads[0])
	}
	if res := runIn(t, project, nil, nil, "ls", "--from-django", "--python", harness.SystemPython); res.code != 1 ||
		!strings.Contains(res.stderr, "DJANGO_SETTINGS_MODULE") {
		t.Errorf("--from-django without $DJANGO_SETTINGS_MODULE: exit %d, stderr %q", res.code, res.stderr)
	}
}

// TestOpsDjangoSettingsDatabaseProject: startproject's default keeps
// sessions in the database (SQLite db.sqlite3 beside manage.py). Before
// `manage.py migrate` there is no database: the message says so; after it
// the project's sessions are served with nothing but --django-settings.
func TestOpsDjangoSettingsDatabaseProject(t *testing.T) {
	project := startProject(t, "") // startproject's default: database sessions
	res := runIn(t, project, nil, nil, "ls", "--django-settings", "mysite.settings", "--python", harness.SystemPython)
	if res.code != 1 || !strings.Contains(res.stderr, "manage.py migrate") || !strings.Contains(res.stderr, filepath.Join(project, "db.sqlite3")) {
		t.Errorf("a project with database sessions, not migrated: exit %d, stderr %q", res.code, res.stderr)
	}
	if strings.Contains(res.stderr, "django-insecure-") {
		t.Errorf("the error shows the project's SECRET_KEY: %q", res.stderr)
	}
	if out, err := exec.Command(harness.SystemPython, filepath.Join(project, "manage.py"), "migrate", "-v0").CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	put := runIn(t, project, nil, []byte(`{"written": "by sessionfs"}`), "put", "--create", "--django-settings", "mysite.settings", "--python", harness.SystemPython, "sfsdatabase00001")
	if put.code != 0 {
		t.Fatalf("put into the migrated project: exit %d: %s", put.code, put.stderr)
	}
	res = runIn(t, project, nil, nil, "show", "sfsdatabase00001", "--django-settings", "mysite.settings", "--python", harness.SystemPython)
	if res.code != 0 || !strings.Contains(res.stdout, `"by sessionfs"`) {
		t.Errorf("show: exit %d: %s%s", res.code, res.stdout, res.stderr)
	}
}
