package dbcli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// mount mounts the site's table; Django then signs with the mount's key.
func (s *site) mount(args ...string) *mounttest.Mount {
	s.t.Helper()
	m := mounttest.Start(s.t, mounttest.Options{Args: append(append([]string{}, s.dbArgs...), args...)})
	s.settings.SecretKey, s.keyFile = m.SecretKey, m.KeyFile
	return m
}

// shell runs a bash script, bounded in time: nothing through the mount
// may hang.
func shell(t *testing.T, script string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s: hung for 90 s", script)
	}
	return stdout.String(), stderr.String(), err
}

func mustShell(t *testing.T, script string) string {
	t.Helper()
	out, errOut, err := shell(t, script)
	if err != nil || strings.TrimSpace(errOut) != "" {
		t.Fatalf("%s: %v\nstderr: %s", script, err, errOut)
	}
	return out
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("readdir %s: %v", dir, err)
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func pretty(t *testing.T, js string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(js)); err != nil {
		t.Fatal(err)
	}
	p, err := codec.Pretty(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

// farExpiry is an expire_date literal far in the future.
func farExpiry(engine dbstore.Engine) string {
	return expiryLiteral(engine, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))
}

// expiryLiteral is instant t as expire_date text each engine takes, for a
// site with USE_TZ (SQLite and MySQL: naive UTC).
func expiryLiteral(engine dbstore.Engine, t time.Time) string {
	s := t.UTC().Format("2006-01-02 15:04:05")
	if engine == dbstore.PostgreSQL {
		s += "+00"
	}
	return s
}

// TestDBMount: the mount over a table Django writes: ls -l, cat, sed -i,
// cp, rm, touch, .expired/, .by-user/ and .invalid/, and Django loads
// exactly what the mount shows.
func TestDBMount(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engineName(engine), func(t *testing.T) {
			t.Parallel()
			testMount(t, newSite(t, engine, siteOptions{}))
		})
	}
}

func testMount(t *testing.T, s *site) {
	m := s.mount()
	a1, a2 := keyOf("alice", 1), keyOf("alice", 2)
	plain, expired, edit, copied := keyOf("plain", 1), keyOf("expired", 1), keyOf("edit", 1), keyOf("copied", 1)
	logins := s.djangoLogin(harness.LoginItem{Key: a1, UserID: "7"}, harness.LoginItem{Key: a2, UserID: "7"})
	const plainJSON = `{"cart": [1, 2, 3], "note": "café ☃"}`
	s.djangoSave(true, map[string]string{
		plain:   plainJSON,
		expired: `{"k": "old", "_session_expiry": -60}`,
		edit:    `{"theme": "dark"}`,
	})
	// Rows Django cannot load: a key not of its shape, undecodable data.
	badKey := "Not.A/Key"
	garbage := keyOf("garbage", 1)
	s.exec("INSERT INTO "+s.table+" (session_key, session_data, expire_date) VALUES (?, ?, ?)", badKey, "junk", farExpiry(s.engine))
	s.exec("INSERT INTO "+s.table+" (session_key, session_data, expire_date) VALUES (?, ?, ?)", garbage, "garbage", farExpiry(s.engine))
	// plain's row expires in a day, so that touch visibly renews it.
	s.exec("UPDATE "+s.table+" SET expire_date = ? WHERE session_key = ?", expiryLiteral(s.engine, time.Now().Add(24*time.Hour)), plain)

	// ls -l: the live sessions, owner-only files.
	want := []string{a1 + ".json", a2 + ".json", edit + ".json", plain + ".json"}
	if got := names(t, m.Dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("ls: %v, want %v", got, want)
	}
	if out := mustShell(t, "ls -l "+m.Dir); !strings.Contains(out, "-rw------- ") {
		t.Errorf("ls -l: %s", out)
	}
	// cat: the session as pretty JSON.
	if got := mustShell(t, "cat "+m.File(plain)); got != pretty(t, plainJSON) {
		t.Errorf("cat: %q, want %q", got, pretty(t, plainJSON))
	}
	sameJSON(t, "cat "+a1, mustShell(t, "cat "+m.File(a1)), logins[a1])
	// sed -i edits in place; cp creates; rm removes; touch renews.
	mustShell(t, fmt.Sprintf(`sed -i 's/"dark"/"light"/' %s`, m.File(edit)))
	mustShell(t, fmt.Sprintf("cp %s %s", m.File(plain), m.File(copied)))
	mustShell(t, "rm "+m.File(a2))
	mustShell(t, "touch "+m.File(plain))
	// Broken JSON is refused, the session unchanged.
	// (cp reports what close says; a shell's redirection does not.)
	broken := filepath.Join(t.TempDir(), "broken.json")
	if _, errOut, err := shell(t, fmt.Sprintf(`echo '{"theme": ' > %s && cp %s %s`, broken, broken, m.File(edit))); err == nil || !strings.Contains(errOut, "Invalid argument") {
		t.Errorf("broken JSON: %v %s, want Invalid argument", err, errOut)
	}

	// .expired/: the expired row, readable.
	if got := names(t, filepath.Join(m.Dir, ".expired")); len(got) != 1 || got[0] != expired+".json" {
		t.Errorf(".expired: %v", got)
	}
	sameJSON(t, ".expired cat", mustShell(t, "cat "+filepath.Join(m.Dir, ".expired", expired+".json")), `{"k": "old", "_session_expiry": -60}`)
	// .by-user/7: the one left of user 7.
	if got := names(t, filepath.Join(m.Dir, ".by-user", "7")); len(got) != 1 || got[0] != a1+".json" {
		t.Errorf(".by-user/7: %v", got)
	}
	// .invalid/: both bad rows, the one under a foreign key by its escaped
	// name, readable and removable.
	bad := dbstore.DisplayKey(badKey)
	if got := names(t, filepath.Join(m.Dir, ".invalid")); strings.Join(got, " ") != strings.Join([]string{bad, garbage}, " ") {
		t.Errorf(".invalid: %v, want %s and %s", got, bad, garbage)
	}
	if out := mustShell(t, "ls -l "+filepath.Join(m.Dir, ".invalid")); !strings.Contains(out, "-r-------- ") || !strings.Contains(out, bad) {
		t.Errorf("ls -l .invalid: %s", out)
	}
	if got := mustShell(t, "cat "+filepath.Join(m.Dir, ".invalid", bad)); got != "junk" {
		t.Errorf("cat .invalid/%s: %q", bad, got)
	}
	if _, errOut, err := shell(t, "echo x > "+filepath.Join(m.Dir, ".invalid", bad)); err == nil {
		t.Errorf("writing .invalid/%s succeeded: %s", bad, errOut)
	}
	mustShell(t, "rm "+filepath.Join(m.Dir, ".invalid", bad))
	mustShell(t, "rm "+filepath.Join(m.Dir, ".invalid", garbage))
	if got := names(t, filepath.Join(m.Dir, ".invalid")); len(got) != 0 {
		t.Errorf(".invalid after rm: %v", got)
	}

	// Django sees exactly that.
	s.wantLoads(map[string]string{
		edit:   `{"theme": "light"}`,
		copied: plainJSON,
		plain:  plainJSON,
		a1:     logins[a1],
		a2:     "",
	})
	rows := s.djangoRows()
	if _, ok := rows[badKey]; ok {
		t.Errorf("row %q still stored", badKey)
	}
	if _, ok := rows[garbage]; ok {
		t.Errorf("row %s still stored", garbage)
	}
	exp, err := time.Parse(time.RFC3339Nano, rows[plain].ExpireDate)
	if err != nil {
		t.Fatalf("expire_date %q: %v", rows[plain].ExpireDate, err)
	}
	if until := time.Until(exp); until < 13*24*time.Hour {
		t.Errorf("touch: %s expires in %v, want the cookie age (14 days)", plain, until)
	}
}

// TestDBMountServerGone: the database goes away under a mount: operations
// fail with EIO in bounded time, nothing hangs, and the mount serves again
// once the server is back.
func TestDBMountServerGone(t *testing.T) {
	t.Parallel()
	for _, engine := range []dbstore.Engine{dbstore.PostgreSQL, dbstore.MySQL} {
		t.Run(engineName(engine), func(t *testing.T) {
			t.Parallel()
			s := newSite(t, engine, siteOptions{})
			p := s.db.Server.NewProxy(t)
			u := strings.Replace(s.db.URLWithPassword(false),
				net.JoinHostPort(s.db.Server.Host, strconv.Itoa(s.db.Server.Port)), net.JoinHostPort(p.Host, strconv.Itoa(p.Port)), 1)
			urlFile := filepath.Join(t.TempDir(), "url")
			if err := os.WriteFile(urlFile, []byte(u), 0o600); err != nil {
				t.Fatal(err)
			}
			s.dbArgs = []string{"--session-engine", "db", "--database-url-file", urlFile}
			m := s.mount("--cache-timeout", "0s")
			key := keyOf("live", 1)
			s.djangoSave(true, map[string]string{key: `{"a": 1}`})
			mustShell(t, "cat "+m.File(key))

			p.Cut()
			start := time.Now()
			for _, script := range []string{"ls " + m.Dir, "cat " + m.File(key), "echo '{}' > " + m.File(keyOf("new", 1))} {
				_, errOut, err := shell(t, script)
				if err == nil || !strings.Contains(errOut, "Input/output error") {
					t.Errorf("%s with the server gone: %v %q, want EIO", script, err, errOut)
				}
			}
			if took := time.Since(start); took > 60*time.Second {
				t.Errorf("failing took %v", took)
			}
			p.Restore()
			deadline := time.Now().Add(30 * time.Second)
			for {
				out, _, err := shell(t, "cat "+m.File(key))
				if err == nil {
					sameJSON(t, "cat after the server came back", out, `{"a": 1}`)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the mount did not serve again within 30 s of the server's return: %v", err)
				}
				time.Sleep(500 * time.Millisecond)
			}
			mustShell(t, fmt.Sprintf(`sed -i 's/1/2/' %s`, m.File(key)))
			s.wantLoads(map[string]string{key: `{"a": 2}`})
			if !strings.Contains(m.Stderr(), "unavailable") {
				t.Errorf("the mount's log does not say the store was unavailable:\n%s", m.Stderr())
			}
		})
	}
}

// TestDBUserSessionsTable: a table shaped like django-user-sessions'
// (indexed user_id, NOT NULL columns of its own): creating a session is
// refused with a clear message (the CLI and the mount), edits and removals
// work and leave the other columns alone, revoke uses the user_id column.
func TestDBUserSessionsTable(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engineName(engine), func(t *testing.T) {
			t.Parallel()
			s := newSite(t, engine, siteOptions{sessionModel: "user_sessions"})
			m := s.mount()
			k1, k2, k3 := keyOf("us", 1), keyOf("us", 2), keyOf("us", 3)
			s.djangoLogin(harness.LoginItem{Key: k1, UserID: "5"}, harness.LoginItem{Key: k2, UserID: "5"}, harness.LoginItem{Key: k3, UserID: "6"})

			r := s.run(`{"a": 1}`, "put", "--create", keyOf("new", 1))
			if r.code != 1 || !strings.Contains(r.stderr, "user_agent") {
				t.Errorf("put --create: exit %d, stderr %q; want 1 and a message naming the columns", r.code, r.stderr)
			}
			data := s.must("", "show", k3)
			var sess map[string]any
			if err := json.Unmarshal([]byte(data), &sess); err != nil {
				t.Fatal(err)
			}
			sess["theme"] = "blue"
			edited, _ := json.Marshal(sess)
			s.must(string(edited), "put", k3)
			if got := s.lsKeys("--user", "5"); len(got) != 2 {
				t.Errorf("ls --user 5: %v", got)
			}
			if out := s.must("", "revoke", "--user", "5"); !strings.Contains(out, k1) || !strings.Contains(out, k2) {
				t.Errorf("revoke: %q", out)
			}
			var agent string
			var uid int
			q := "SELECT user_agent, user_id FROM user_sessions_session WHERE session_key = ?"
			if engine == dbstore.PostgreSQL {
				q = strings.Replace(q, "?", "$1", 1)
			}
			if err := s.raw().QueryRow(q, k3).Scan(&agent, &uid); err != nil || agent != "djsession.py" || uid != 6 {
				t.Errorf("the edit touched the model's columns: user_agent %q user_id %d (%v)", agent, uid, err)
			}

			src := filepath.Join(t.TempDir(), "new.json")
			_, errOut, err := shell(t, fmt.Sprintf(`echo '{"a": 1}' > %s && cp %s %s`, src, src, m.File(keyOf("new", 2))))
			if err == nil || !strings.Contains(errOut, "Operation not permitted") {
				t.Errorf("creating through the mount: %v %q, want EPERM", err, errOut)
			}
			if !strings.Contains(m.Stderr(), "user_agent") {
				t.Errorf("the mount's log does not say why:\n%s", m.Stderr())
			}
			s.wantLoads(map[string]string{k1: "", k2: "", k3: string(edited)})
		})
	}
}

// TestDBReadOnlyDatabase: a database that refuses writes (here a role
// whose transactions are read-only, as on a hot standby) is EROFS through
// the mount and exit 1 saying so from the CLI; reading goes on.
func TestDBReadOnlyDatabase(t *testing.T) {
	t.Parallel()
	s := newSite(t, dbstore.PostgreSQL, siteOptions{})
	key := keyOf("ro", 1)
	s.db.AdminExec(t, fmt.Sprintf("ALTER ROLE %s SET default_transaction_read_only = on", s.db.User))
	m := s.mount()
	// A session written by the administrator, whose role writes.
	s.db.AdminExec(t, fmt.Sprintf("INSERT INTO django_session VALUES ('%s', '%s', now() + interval '1 day')", key, encodeFor(t, m.SecretKey, `{"a": 1}`)))
	sameJSON(t, "cat", mustShell(t, "cat "+m.File(key)), `{"a": 1}`)
	src := filepath.Join(t.TempDir(), "edit.json")
	for _, script := range []string{
		fmt.Sprintf(`echo '{"a": 2}' > %s && cp %s %s`, src, src, m.File(key)),
		"rm " + m.File(key),
		"touch " + m.File(key),
	} {
		if _, errOut, err := shell(t, script); err == nil || !strings.Contains(errOut, "Read-only file system") {
			t.Errorf("%s on a read-only database: %v %q, want EROFS", script, err, errOut)
		}
	}
	if r := s.run(`{"a": 3}`, "put", key); r.code != 1 || !strings.Contains(r.stderr, "read-only") {
		t.Errorf("put on a read-only database: exit %d, %q", r.code, r.stderr)
	}
	sameJSON(t, "cat after the refusals", mustShell(t, "cat "+m.File(key)), `{"a": 1}`)
}

// encodeFor is session_data for a session dict, signed with secret.
func encodeFor(t *testing.T, secret, js string) string {
	t.Helper()
	c, err := codec.New(codec.Config{SecretKey: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode([]byte(js), codec.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
