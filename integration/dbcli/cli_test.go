package dbcli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// TestDBCommands: Django writes sessions with its database backend, every
// command of the binary works on the table, and Django then loads exactly
// what sessionfs says: on SQLite, PostgreSQL and MariaDB, under Django
// 3.2 and a newer Django.
func TestDBCommands(t *testing.T) {
	t.Parallel()
	cases := []struct {
		engine dbstore.Engine
		django string
	}{
		{dbstore.SQLite, "3.2"}, {dbstore.PostgreSQL, "3.2"}, {dbstore.MySQL, "3.2"},
		{dbstore.SQLite, "5.2"}, {dbstore.PostgreSQL, "4.2"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/django%s", engineName(tc.engine), tc.django), func(t *testing.T) {
			t.Parallel()
			testCommands(t, newSite(t, tc.engine, siteOptions{django: tc.django}))
		})
	}
}

func testCommands(t *testing.T, s *site) {
	a1, a2, b1 := keyOf("alice", 1), keyOf("alice", 2), keyOf("bob", 1)
	plain, expired, edit, fresh := keyOf("plain", 1), keyOf("expired", 1), keyOf("edit", 1), keyOf("fresh", 1)
	logins := s.djangoLogin(
		harness.LoginItem{Key: a1, UserID: "7"},
		harness.LoginItem{Key: a2, UserID: "7", Extra: map[string]any{"device": "phone"}},
		harness.LoginItem{Key: b1, UserID: "8", Extra: map[string]any{"cart": []int{1, 2}}},
	)
	s.djangoSave(true, map[string]string{
		plain:   `{"cart": [1, 2, 3], "note": "café ☃"}`,
		expired: `{"k": "old", "_session_expiry": -60}`,
		edit:    `{"theme": "dark", "_session_expiry": 3600}`,
	})

	// ls: every live row, the expired one marked, users from the data.
	all := s.lsKeys()
	for _, k := range []string{a1, a2, b1, plain, expired, edit} {
		if _, ok := all[k]; !ok {
			t.Errorf("ls lacks %s: %v", k, all)
		}
	}
	if !all[expired].Expired || all[plain].Expired {
		t.Errorf("ls: expired %v, plain expired %v", all[expired].Expired, all[plain].Expired)
	}
	if u := all[a1].UserID; u == nil || *u != "7" {
		t.Errorf("ls: %s user %v, want 7", a1, u)
	}
	if got := s.lsKeys("--expired"); len(got) != 1 || got[expired].Key == "" {
		t.Errorf("ls --expired: %v, want only %s", got, expired)
	}
	if got := s.lsKeys("--user", "7"); len(got) != 2 || got[a1].Key == "" || got[a2].Key == "" {
		t.Errorf("ls --user 7: %v", got)
	}

	// show: the session as Django saved it.
	sameJSON(t, "show "+b1, s.must("", "show", b1), logins[b1])
	sameJSON(t, "show "+plain, s.must("", "show", plain), `{"cart": [1, 2, 3], "note": "café ☃"}`)
	if r := s.run("", "show", keyOf("missing", 1)); r.code != 4 {
		t.Errorf("show of a missing key: exit %d, want 4 (%s)", r.code, r.stderr)
	}

	// put: an edit, a creation, a refused creation over a taken key.
	s.must(`{"theme": "light", "_session_expiry": 3600}`, "put", edit)
	s.must(`{"n": 1}`, "put", "--create", fresh)
	if r := s.run(`{"n": 2}`, "put", "--create", plain); r.code != 5 {
		t.Errorf("put --create over a taken key: exit %d, want 5 (%s)", r.code, r.stderr)
	}
	if r := s.run(`{"n": `, "put", edit); r.code != 5 {
		t.Errorf("put of broken JSON: exit %d, want 5 (%s)", r.code, r.stderr)
	}

	// gc: exactly Django's clear_expired.
	if out := s.must("", "gc", "--dry-run"); !strings.Contains(out, expired) || strings.Contains(out, plain) {
		t.Errorf("gc --dry-run: %q, want %s only", out, expired)
	}
	s.must("", "gc")
	// revoke: every session of user 7.
	if out := s.must("", "revoke", "--user", "7"); !strings.Contains(out, a1) || !strings.Contains(out, a2) {
		t.Errorf("revoke --user 7: %q", out)
	}
	// rm: one session.
	s.must("", "rm", b1)
	if r := s.run("", "rm", b1); r.code != 4 {
		t.Errorf("rm of a removed key: exit %d, want 4", r.code)
	}

	s.wantLoads(map[string]string{
		edit:  `{"theme": "light", "_session_expiry": 3600}`,
		fresh: `{"n": 1}`,
		plain: `{"cart": [1, 2, 3], "note": "café ☃"}`,
		a1:    "", a2: "", b1: "",
	})
	rows := s.djangoRows()
	for _, k := range []string{expired, a1, a2, b1} {
		if _, ok := rows[k]; ok {
			t.Errorf("row %s still stored", k)
		}
	}
	if len(rows) != 3 {
		t.Errorf("rows %v, want edit, fresh and plain", rows)
	}

	// verify and stats agree with the table.
	if r := s.run("", "verify"); r.code != 0 {
		t.Errorf("verify: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	var st struct {
		Sessions int `json:"sessions"`
		Expired  int `json:"expired"`
		Invalid  int `json:"invalid"`
	}
	if err := json.Unmarshal([]byte(s.must("", "stats", "--json")), &st); err != nil || st.Sessions != 3 || st.Expired != 0 || st.Invalid != 0 {
		t.Errorf("stats: %+v, %v", st, err)
	}

	// rekey: SECRET_KEY rotated, the old one a fallback; rows re-signed
	// with the new key, expire_date unchanged, and Django with only the new
	// key loads them.
	newKey := secretKey + "-rotated"
	newKeyFile := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(newKeyFile, []byte(newKey), 0o600); err != nil {
		t.Fatal(err)
	}
	out := s.must("", "rekey", "--secret-key-file", newKeyFile, "--secret-key-fallbacks-file", s.keyFile)
	for _, k := range []string{edit, fresh, plain} {
		if !strings.Contains(out, k) {
			t.Errorf("rekey output lacks %s: %q", k, out)
		}
	}
	after := s.djangoRows()
	for k, r := range rows {
		if after[k].ExpireDate != r.ExpireDate || after[k].Data == r.Data {
			t.Errorf("rekey of %s: expire_date %s -> %s, data changed %v", k, r.ExpireDate, after[k].ExpireDate, after[k].Data != r.Data)
		}
	}
	old := s.settings
	s.settings.SecretKey = newKey
	s.wantLoads(map[string]string{edit: `{"theme": "light", "_session_expiry": 3600}`, fresh: `{"n": 1}`})
	s.settings = old

	// verify names rows Django cannot load: a key not of Django's shape,
	// and session_data that does not decode.
	s.exec("INSERT INTO "+s.table+" (session_key, session_data, expire_date) VALUES (?, ?, ?)", "Not.A/Key", "junk", "2099-01-01 00:00:00")
	s.exec("INSERT INTO "+s.table+" (session_key, session_data, expire_date) VALUES (?, ?, ?)", keyOf("garbage", 1), "garbage", "2099-01-01 00:00:00")
	r := s.run("", "--secret-key-file", newKeyFile, "verify", "--json")
	if r.code != 3 {
		t.Errorf("verify with a bad row: exit %d, want 3: %s", r.code, r.stderr)
	}
	problems := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var p struct{ Key, Problem string }
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("verify --json line %q: %v", line, err)
		}
		problems[p.Key] = p.Problem
	}
	if problems[dbstore.DisplayKey("Not.A/Key")] != "invalid-key" || problems[keyOf("garbage", 1)] == "" || len(problems) != 2 {
		t.Errorf("verify problems %v, want %s invalid-key and %s", problems, dbstore.DisplayKey("Not.A/Key"), keyOf("garbage", 1))
	}
}

// TestDBSettingsRefusals: a password on the command line, an unreachable
// server, a wrong password and a missing table each stop the command with
// a message that names the cause, never the password.
func TestDBSettingsRefusals(t *testing.T) {
	t.Parallel()
	for _, engine := range []dbstore.Engine{dbstore.PostgreSQL, dbstore.MySQL} {
		t.Run(engineName(engine), func(t *testing.T) {
			t.Parallel()
			s := newSite(t, engine, siteOptions{})
			withPW := s.db.URLWithPassword(false)
			check := func(what string, r result, code int, wants ...string) {
				t.Helper()
				if r.code != code {
					t.Errorf("%s: exit %d, want %d: %s", what, r.code, code, r.stderr)
				}
				for _, w := range wants {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("%s: stderr %q lacks %q", what, r.stderr, w)
					}
				}
				if strings.Contains(r.stderr+r.stdout, s.db.Password) || strings.Contains(r.stderr+r.stdout, strings.TrimPrefix(s.db.Password, "pw/")) {
					t.Errorf("%s: the password is printed: %s", what, r.stderr)
				}
			}
			env := []string{"DJANGO_SECRET_KEY=" + secretKey}
			check("password in argv", runBinary(t, env, "", "--session-engine", "db", "--database-url", withPW, "ls"), 1, "password", "DATABASE_URL")
			check("password in argv after the command", runBinary(t, env, "", "ls", "--session-engine", "db", "--database-url", withPW), 1, "password")
			// The same URL from the environment is used.
			if r := runBinary(t, append(env, "DATABASE_URL="+withPW), "", "--session-engine", "db", "ls"); r.code != 0 {
				t.Errorf("DATABASE_URL with a password: exit %d: %s", r.code, r.stderr)
			}
			bad := s.db.URL(false)
			at := strings.Index(bad, "@")
			bad = bad[:at] + ":not-the-password" + bad[at:]
			r := runBinary(t, append(env, "DATABASE_URL="+bad), "", "--session-engine", "db", "ls")
			check("wrong password", r, 1, "refused the login")
			if strings.Contains(r.stderr, "not-the-password") {
				t.Errorf("wrong password printed: %s", r.stderr)
			}
			port, err := freePort()
			if err != nil {
				t.Fatal(err)
			}
			unreachable := strings.Replace(withPW, fmt.Sprintf(":%d/", s.db.Server.Port), fmt.Sprintf(":%d/", port), 1)
			check("unreachable", runBinary(t, append(env, "DATABASE_URL="+unreachable), "", "--session-engine", "db", "ls"), 1,
				fmt.Sprintf("127.0.0.1:%d", port))
			check("missing table", runBinary(t, append(env, "DATABASE_URL="+withPW), "", "--session-engine", "db", "--db-table", "no_such_table", "ls"), 1,
				"manage.py migrate")
		})
	}
}
