package integration

// The ops fixture: a session directory written by real Django 3.2 (and one
// file by 4.2) for the operator commands (ls filters, stats, revoke, rekey,
// audit log).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
)

const (
	opsSecret        = "ops-current-secret-key-0123456789-abcdef"
	opsOldSecret     = "ops-old-secret-key-rotated-away-987654321"
	opsUnknownSecret = "some-other-site-secret-key-never-configured"
)

// Keys of the ops fixture.
const (
	opsUser42a      = "user42sessiona1"
	opsUser42b      = "user42sessionb1"
	opsUser7        = "user7session001"
	opsAnon         = "anonsession0001"
	opsFallback8    = "fallbackuser081" // user 8, signed with opsOldSecret (a fallback)
	opsUnknown      = "unknownkeysess1" // signed with a key sessionfs does not know
	opsExpiredMt    = "expiredmtime001" // user 9, expired by its mtime
	opsExpiredAt    = "expiredatsess01" // user 10, expired by _session_expiry (as Django 4.2 stores it)
	opsTruncated    = "truncatedsess01" // the anonymous session cut in half
	opsTempLeftover = "sessionid" + opsUser7 + "_out_leftover"
)

// loginSession is what django.contrib.auth's login() stores (with a made-up
// password hash); opsFixture uses the real login().
func loginSession(userID string, extra string) json.RawMessage {
	return json.RawMessage(`{"_auth_user_id": "` + userID + `", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend", ` +
		`"_auth_user_hash": "4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b"` + extra + `}`)
}

// opsFixture writes the fixture into a new directory and returns it.
func opsFixture(t *testing.T) string {
	t.Helper()
	dj32 := harness.RequireDjango(t, "3.2")
	dj42 := harness.RequireDjango(t, "4.2")
	dir := t.TempDir()
	current := harness.Settings{SecretKey: opsSecret, SessionFilePath: dir}
	save := func(d *harness.Django, s harness.Settings, items ...harness.SaveItem) {
		t.Helper()
		for i := range items {
			items[i].MustCreate = true
		}
		var res []harness.SaveResult
		d.Call(t, s, harness.OpSave, items, &res)
		for _, r := range res {
			if !r.OK {
				t.Fatalf("Django %s save %s: %s", d.Version, r.Key, r.Error)
			}
		}
	}
	// Logged-in users: real django.contrib.auth login() sessions.
	login := func(d *harness.Django, s harness.Settings, items ...harness.LoginItem) {
		t.Helper()
		var res []harness.LoginResult
		d.Call(t, s, harness.OpLogin, items, &res)
		if len(res) != len(items) {
			t.Fatalf("Django %s login: %d sessions for %d users", d.Version, len(res), len(items))
		}
	}
	login(dj32, current,
		harness.LoginItem{Key: opsUser42a, UserID: "42", Extra: map[string]any{"cart": []int{1, 2}}},
		harness.LoginItem{Key: opsUser42b, UserID: "42"},
		harness.LoginItem{Key: opsUser7, UserID: "7", Extra: map[string]any{"theme": "dark"}},
		harness.LoginItem{Key: opsExpiredMt, UserID: "9"},
	)
	save(dj32, current,
		harness.SaveItem{Key: opsAnon, Data: json.RawMessage(`{"cart": [3], "note": "` + string(bytes.Repeat([]byte("x"), 300)) + `"}`)},
	)
	old := current
	old.SecretKey = opsOldSecret
	login(dj32, old, harness.LoginItem{Key: opsFallback8, UserID: "8"})
	unknown := current
	unknown.SecretKey = opsUnknownSecret
	login(dj32, unknown, harness.LoginItem{Key: opsUnknown, UserID: "11"})
	login(dj42, current, harness.LoginItem{Key: opsExpiredAt, UserID: "10", Extra: map[string]any{"_session_expiry": "2021-03-04T05:06:07.000008+00:00"}})

	anon, err := os.ReadFile(filepath.Join(dir, "sessionid"+opsAnon))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "sessionid"+opsTruncated, anon[:len(anon)/2])
	writeFile(t, dir, opsTempLeftover, []byte("half a sav"))
	setMtime(t, filepath.Join(dir, "sessionid"+opsExpiredMt), time.Now().Add(-1209600*time.Second-48*time.Hour))
	return dir
}

// opsRun runs the binary with SECRET_KEY opsSecret, opsOldSecret as the
// fallback, over dir: `sessionfs CMD --session-file-path dir
// --secret-key-fallbacks-file F ARGS...`.
func opsRun(t *testing.T, dir string, stdin []byte, cmd string, args ...string) cliResult {
	t.Helper()
	fallbacks := writeFile(t, t.TempDir(), "fallbacks", []byte(opsOldSecret+"\n"))
	argv := append([]string{cmd, "--session-file-path", dir, "--secret-key-fallbacks-file", fallbacks}, args...)
	return runBinary(t, []string{"DJANGO_SECRET_KEY=" + opsSecret}, stdin, argv...)
}

// opsMust is opsRun requiring exit code 0; it returns stdout.
func opsMust(t *testing.T, dir string, stdin []byte, cmd string, args ...string) string {
	t.Helper()
	res := opsRun(t, dir, stdin, cmd, args...)
	if res.code != 0 {
		t.Fatalf("sessionfs %s %v: exit %d\nstderr: %s", cmd, args, res.code, res.stderr)
	}
	return res.stdout
}

// runBinary runs the built binary with extra environment variables (and
// no DJANGO_* variables inherited from the test's environment).
func runBinary(t *testing.T, env []string, stdin []byte, argv ...string) cliResult {
	t.Helper()
	return runIn(t, "", env, stdin, argv...)
}

// jsonLines decodes one JSON object per line.
func jsonLines[T any](t *testing.T, text string) []T {
	t.Helper()
	var out []T
	sc := bufio.NewScanner(bytes.NewReader([]byte(text)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, v)
	}
	return out
}

// opsLsLine is the part of an `ls --json` record the ops tests look at.
type opsLsLine struct {
	Key      string  `json:"key"`
	RawSize  int64   `json:"raw_size"`
	Modified string  `json:"modified"`
	Expires  *string `json:"expires"`
	Expired  bool    `json:"expired"`
	UserID   *string `json:"user_id"`
	KeyUsed  *string `json:"key_used"`
	Error    string  `json:"error"`
}

// djangoLoads loads keys with Django d (SECRET_KEY opsSecret, no fallback).
func djangoLoads(t *testing.T, d *harness.Django, dir string, keys ...string) map[string]harness.LoadResult {
	t.Helper()
	var res []harness.LoadResult
	d.Call(t, harness.Settings{SecretKey: opsSecret, SessionFilePath: dir}, harness.OpLoad, keys, &res)
	out := map[string]harness.LoadResult{}
	for i, key := range keys {
		out[key] = res[i]
	}
	return out
}
