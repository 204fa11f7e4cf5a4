package integration

// The store and its CLI against real Django 3.2's file backend over the same
// directory: what one writes, the other reads exactly; gc removes what
// Django's clear_expired removes. Prerequisite: /usr/bin/python3 with
// Django 3.2 (missing: skip, or fail under CI=true).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
)

// lsLine is the part of `ls --json` the tests check.
type lsLine struct {
	Key     string  `json:"key"`
	Size    *int64  `json:"size"`
	UserID  *string `json:"user_id"`
	Format  *string `json:"format"`
	KeyUsed *string `json:"key_used"`
	Expired bool    `json:"expired"`
	Error   string  `json:"error"`
}

func lsJSON(t *testing.T, dir string) map[string]lsLine {
	t.Helper()
	out := mustCLI(t, dir, nil, "ls", "--json")
	got := map[string]lsLine{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l lsLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("ls --json line %q: %v", sc.Text(), err)
		}
		if _, dup := got[l.Key]; dup {
			t.Errorf("ls listed %s twice", l.Key)
		}
		got[l.Key] = l
	}
	return got
}

func TestStoreCLISeesDjangoSessions(t *testing.T) {
	dj := harness.RequireDjango(t, "3.2")
	dir := t.TempDir()
	r := testRand(t)
	sessions := plainSessions(harness.RandomSessions(r, 20))
	var keys []string
	dj.Call(t, storeSettings(dir), harness.OpCreate, sessions, &keys)
	// A temp file and a foreign file Django's directory may hold: not sessions.
	for _, name := range []string{"sessionid" + keys[0] + "_out_k2j3h4", "othersiteabcdefghij", "sessionidBAD"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	listed := lsJSON(t, dir)
	if len(listed) != len(keys) {
		t.Errorf("ls listed %d sessions, Django created %d", len(listed), len(keys))
	}
	for i, key := range keys {
		l, ok := listed[key]
		if !ok {
			t.Errorf("ls misses %s", key)
			continue
		}
		if l.Error != "" || l.Expired || l.Format == nil || *l.Format != "signed" || *l.KeyUsed != "current" {
			t.Errorf("ls %s: %+v", key, l)
		}
		shown := mustCLI(t, dir, nil, "show", key)
		sameSession(t, "show "+key, []byte(shown), sessions[i])
		if l.Size == nil || *l.Size != int64(len(shown)) {
			t.Errorf("ls size of %s = %v, show printed %d bytes", key, l.Size, len(shown))
		}
		gotUser := ""
		if l.UserID != nil {
			gotUser = *l.UserID
		}
		if want := wantUserID(t, sessions[i]); !sameUserID(gotUser, want) {
			t.Errorf("ls user of %s = %q, want %q", key, gotUser, want)
		}
	}
	table := mustCLI(t, dir, nil, "ls")
	if lines := strings.Count(table, "\n"); lines != len(keys)+1 {
		t.Errorf("ls table has %d lines, want header + %d", lines, len(keys))
	}
	if res := runCLI(t, dir, nil, "show", "nosuchsession1"); res.code != 4 {
		t.Errorf("show of a missing key: exit %d, want 4", res.code)
	}
	if res := runCLI(t, dir, nil, "show", "../../etc/passwd"); res.code != 5 {
		t.Errorf("show of an invalid key: exit %d, want 5", res.code)
	}
	if res := runCLI(t, dir, nil, "verify"); res.code != 0 {
		t.Errorf("verify of Django's sessions: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

func TestStoreDjangoSeesCLIWrites(t *testing.T) {
	dj := harness.RequireDjango(t, "3.2")
	dir := t.TempDir()
	r := testRand(t)
	sessions := plainSessions(harness.RandomSessions(r, 10))
	if len(sessions) < 8 {
		t.Fatalf("only %d usable random sessions", len(sessions))
	}
	keys := make([]string, len(sessions))
	for i, s := range sessions {
		keys[i] = fmt.Sprintf("cliputkey%04d%s", i, strings.Repeat("x", 8))
		mustCLI(t, dir, s, "put", "--create", keys[i])
	}
	// Replace one, taken key with --create, and remove two.
	replaced := []byte(`{"replaced": true, "n": 12345678901234567890123}`)
	mustCLI(t, dir, replaced, "put", keys[1])
	sessions[1] = replaced
	if res := runCLI(t, dir, []byte(`{"a":1}`), "put", "--create", keys[2]); res.code != 5 {
		t.Errorf("put --create on a taken key: exit %d, want 5", res.code)
	}
	if res := runCLI(t, dir, []byte(`[1,2]`), "put", keys[3]); res.code != 5 {
		t.Errorf("put of a JSON array: exit %d, want 5", res.code)
	}
	mustCLI(t, dir, nil, "rm", keys[4], keys[5])
	if res := runCLI(t, dir, nil, "rm", keys[6], "missingkey123", keys[7]); res.code != 4 {
		t.Errorf("rm with a missing key: exit %d, want 4", res.code)
	}
	removed := map[string]bool{keys[4]: true, keys[5]: true, keys[6]: true, keys[7]: true}

	var loads []harness.LoadResult
	dj.Call(t, storeSettings(dir), harness.OpLoad, keys, &loads)
	var exists []bool
	dj.Call(t, storeSettings(dir), harness.OpExists, keys, &exists)
	for i, key := range keys {
		if removed[key] {
			if exists[i] || loads[i].Existed {
				t.Errorf("Django still finds removed session %s", key)
			}
			continue
		}
		l := loads[i]
		if !exists[i] || !l.OK || !l.KeyKept {
			t.Errorf("Django load %s: %+v (exists %v)", key, l, exists[i])
			continue
		}
		sameSession(t, "Django's load of "+key, l.Data, sessions[i])
	}
}

// expiryFixture is one session file of the mixed-expiry directory.
type expiryFixture struct {
	name    string          // what it tests
	data    json.RawMessage // saved by Django
	put     json.RawMessage // or saved by `sessionfs put` (values Django's JSON cannot carry)
	raw     *string         // or raw file content
	mtimeAt time.Duration   // mtime relative to now
}

const cookieAge = 1209600 * time.Second

// Relative mtimes of the fixtures: past the cookie age, or well within it.
const (
	oldMtime    = -cookieAge - time.Hour
	recentMtime = -time.Hour
)

func TestStoreGCMatchesDjangoClearExpired(t *testing.T) {
	empty, garbage := "", "garbage, not a session"
	foreign := "e30:1r31eq:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // signed with some other key
	fixtures := []expiryFixture{
		{name: "fresh", data: json.RawMessage(`{"a":1}`), mtimeAt: recentMtime},
		{name: "old", data: json.RawMessage(`{"a":1}`), mtimeAt: oldMtime},
		{name: "old but int expiry", data: json.RawMessage(`{"_session_expiry":300,"a":1}`), mtimeAt: oldMtime},
		{name: "fresh negative int", data: json.RawMessage(`{"_session_expiry":-10}`), mtimeAt: recentMtime},
		{name: "old browser-close", data: json.RawMessage(`{"_session_expiry":0}`), mtimeAt: oldMtime},
		{name: "fresh browser-close", data: json.RawMessage(`{"_session_expiry":0}`), mtimeAt: recentMtime},
		{name: "old null expiry", data: json.RawMessage(`{"_session_expiry":null}`), mtimeAt: oldMtime},
		{name: "nearly expired", data: json.RawMessage(`{"b":2}`), mtimeAt: -cookieAge + 10*time.Minute},
		{name: "just expired", data: json.RawMessage(`{"b":2}`), mtimeAt: -cookieAge - 10*time.Minute},
		{name: "old login", data: json.RawMessage(`{"_auth_user_id":"42"}`), mtimeAt: oldMtime},
		{name: "old placeholder", raw: &empty, mtimeAt: oldMtime},
		{name: "old garbage", raw: &garbage, mtimeAt: oldMtime},
		{name: "fresh garbage", raw: &garbage, mtimeAt: recentMtime},
		{name: "old other key", raw: &foreign, mtimeAt: oldMtime},
		{name: "fresh other key", raw: &foreign, mtimeAt: recentMtime},
	}
	t.Run("json", func(t *testing.T) { gcMatchesDjango(t, "json", fixtures) })
	// Pickle sessions can hold a datetime _session_expiry (what set_expiry
	// stores before Django 4.1). USE_TZ is on in the harness, so aware ones.
	pickled := append(fixtures,
		expiryFixture{name: "past datetime", put: json.RawMessage(`{"_session_expiry":{"$datetime":"2001-02-03T04:05:06+00:00"}}`), mtimeAt: recentMtime},
		expiryFixture{name: "future datetime", put: json.RawMessage(`{"_session_expiry":{"$datetime":"2999-02-03T04:05:06+00:00"}}`), mtimeAt: oldMtime},
		expiryFixture{name: "datetime in a minute", put: minuteFromNow(time.Minute), mtimeAt: oldMtime},
		expiryFixture{name: "datetime a minute ago", put: minuteFromNow(-time.Minute), mtimeAt: recentMtime},
	)
	t.Run("pickle", func(t *testing.T) { gcMatchesDjango(t, "pickle", pickled) })
}

func minuteFromNow(d time.Duration) json.RawMessage {
	at := time.Now().Add(d).UTC().Format("2006-01-02T15:04:05.000000+00:00")
	return json.RawMessage(`{"_session_expiry":{"$datetime":"` + at + `"}}`)
}

// gcMatchesDjango builds the fixture directory, then runs Django's
// clear_expired on one copy, `sessionfs gc` on another and `gc --dry-run` on
// a third: the same files must go.
func gcMatchesDjango(t *testing.T, serializer string, fixtures []expiryFixture) {
	dj := harness.RequireDjango(t, "3.2")
	dir := t.TempDir()
	settings := storeSettings(dir)
	settings.Serializer = serializer
	now := time.Now()
	var saves []harness.SaveItem
	keyOf := map[string]string{}
	for i, f := range fixtures {
		key := fmt.Sprintf("gcfixture%03d%s", i, strings.Repeat("q", 10))
		keyOf[f.name] = key
		switch {
		case f.data != nil:
			saves = append(saves, harness.SaveItem{Key: key, Data: f.data, MustCreate: true})
		case f.put != nil:
			mustCLI(t, dir, f.put, "put", "--create", "--serializer", serializer, key)
		}
	}
	var saved []harness.SaveResult
	dj.Call(t, settings, harness.OpSave, saves, &saved)
	for _, s := range saved {
		if !s.OK {
			t.Fatalf("Django save: %+v", s)
		}
	}
	for _, f := range fixtures {
		path := filepath.Join(dir, "sessionid"+keyOf[f.name])
		if f.raw != nil {
			if err := os.WriteFile(path, []byte(*f.raw), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		setMtime(t, path, now.Add(f.mtimeAt))
	}
	// Not sessions: an old temp file and a foreign file.
	for _, name := range []string{"sessionid" + keyOf["old"] + "_out_abc123", "README"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		setMtime(t, p, now.Add(oldMtime))
	}

	djangoDir, gcDir, dryDir := copyDir(t, dir), copyDir(t, dir), copyDir(t, dir)
	djSettings := settings
	djSettings.SessionFilePath = djangoDir
	dj.Call(t, djSettings, harness.OpClearExpired, nil, nil)
	gcOut := mustCLI(t, gcDir, nil, "gc", "--keep-temp")
	dryOut := mustCLI(t, dryDir, nil, "gc", "--dry-run", "--keep-temp")

	djangoLeft, gcLeft := fileNames(t, djangoDir), fileNames(t, gcDir)
	var removedByDjango []string
	for name := range fileNames(t, dir) {
		if !djangoLeft[name] {
			removedByDjango = append(removedByDjango, strings.TrimPrefix(name, "sessionid"))
		}
		if djangoLeft[name] != gcLeft[name] {
			t.Errorf("%s: kept by Django %v, by gc %v", name, djangoLeft[name], gcLeft[name])
		}
	}
	sort.Strings(removedByDjango)
	for _, out := range []string{gcOut, dryOut} {
		printed := strings.Fields(out)
		sort.Strings(printed)
		if strings.Join(printed, " ") != strings.Join(removedByDjango, " ") {
			t.Errorf("gc printed %v, Django removed %v", printed, removedByDjango)
		}
	}
	if len(fileNames(t, dryDir)) != len(fileNames(t, dir)) {
		t.Errorf("gc --dry-run removed files")
	}
	// The fixture is only a test if both sides remove some and keep some.
	if len(removedByDjango) < 5 || len(djangoLeft) < 5 {
		t.Errorf("fixture too one-sided: Django removed %v", removedByDjango)
	}
	t.Logf("Django and gc both removed %d: %v", len(removedByDjango), removedByDjango)
}
