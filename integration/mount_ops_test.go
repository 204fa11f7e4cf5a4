package integration

// The mount's ops views (.by-user, .expired, .invalid, .stats.json), its
// extended attributes and its audit log, on the ops fixture written by real
// Django, driven by real tools (ls, cat, rm, getfattr, sed, bash globs).

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
	"github.com/sessionfs/sessionfs/store"
)

// mountOps mounts the ops fixture with its keys and extra flags.
func mountOps(t *testing.T, args ...string) (m *mounttest.Mount, dir string) {
	t.Helper()
	dir = opsFixture(t)
	keys := t.TempDir()
	key := writeFile(t, keys, "secret", []byte(opsSecret+"\n"))
	fallbacks := writeFile(t, keys, "fallbacks", []byte(opsOldSecret+"\n"))
	args = append([]string{"--secret-key-file", key, "--secret-key-fallbacks-file", fallbacks}, args...)
	return mounttest.Start(t, mounttest.Options{Backing: dir, Args: args}), dir
}

func TestMountOpsViews(t *testing.T) {
	requireTool(t, "getfattr")
	m, dir := mountOps(t, "--xattrs")
	env := "D=" + m.Dir

	// Bash globs skip the hidden entries.
	if got := mustSh(t, `cd "$D" && shopt -u dotglob && echo *.json`, env); strings.Contains(got, ".stats.json") ||
		!strings.Contains(got, opsUser42a+".json") {
		t.Errorf("echo *.json: %s", got)
	}
	for script, want := range map[string]string{
		`ls "$D/.by-user"`:    "42\n7\n8\n",
		`ls "$D/.by-user/42"`: opsUser42a + ".json\n" + opsUser42b + ".json\n",
		`ls "$D/.expired"`:    opsExpiredAt + ".json\n" + opsExpiredMt + ".json\n",
		`ls "$D/.invalid"`:    opsTruncated + "\n" + opsUnknown + "\n",
	} {
		if got := mustSh(t, script, env); got != want {
			t.Errorf("%s: got %q, want %q", script, got, want)
		}
	}
	// The same session through .by-user and the top level.
	if a, b := mustSh(t, `cat "$D/.by-user/42/`+opsUser42a+`.json"`, env), mustSh(t, `cat "$D/`+opsUser42a+`.json"`, env); a != b {
		t.Errorf(".by-user differs from the top level:\n%s\n%s", a, b)
	}
	// .invalid shows the raw bytes and why.
	mustSh(t, `cmp "$D/.invalid/`+opsTruncated+`" "$B/sessionid`+opsTruncated+`"`, env, "B="+dir)
	if got := mustSh(t, `getfattr --absolute-names --only-values -n user.sessionfs.error "$D/.invalid/`+opsUnknown+`"`, env); !strings.HasPrefix(got, "bad-signature: ") {
		t.Errorf("error attribute: %q", got)
	}
	// Attributes of a session signed with the fallback key.
	got := mustSh(t, `getfattr --absolute-names -d "$D/`+opsFallback8+`.json"`, env)
	for _, want := range []string{`user.sessionfs.key="fallback 1"`, `user.sessionfs.user_id="8"`,
		`user.sessionfs.format="signed json sha256`, `user.sessionfs.expires="20`, `user.sessionfs.raw_size="`} {
		if !strings.Contains(got, want) {
			t.Errorf("getfattr -d: no %s in\n%s", want, got)
		}
	}
	// .stats.json: the figures of the fixture.
	var st store.Stats
	if err := json.Unmarshal([]byte(mustSh(t, `cat "$D/.stats.json"`, env)), &st); err != nil {
		t.Fatal(err)
	}
	if st.Sessions != 5 || st.Expired != 2 || st.Invalid != 2 || st.TempFiles != 1 || st.LoggedInUsers != 3 ||
		st.FallbackOnly() != 1 || st.Operations == nil || st.Operations.Reads < 2 {
		t.Errorf(".stats.json: %+v %+v", st, st.Operations)
	}
	// Nothing can be made of the hidden entries.
	for _, script := range []string{`rm "$D/.stats.json"`, `rmdir "$D/.expired"`, `mv "$D/.invalid" "$D/x"`,
		`echo '{}' > "$D/.stats.json"`, `touch "$D/.expired/new.json"`} {
		if _, _, err := sh(t, script, env); err == nil {
			t.Errorf("%s succeeded", script)
		}
	}
}

func TestMountOpsRemovalsAndAudit(t *testing.T) {
	dj := harness.RequireDjango(t, "3.2")
	logPath := filepath.Join(t.TempDir(), "audit.jsonl")
	m, dir := mountOps(t, "--audit-log", logPath)
	env := "D=" + m.Dir

	// Log user 42 out everywhere: rm -r exits 0 and prints nothing.
	mustSh(t, `rm -r "$D/.by-user/42"`, env)
	if got := mustSh(t, `ls "$D/.by-user"`, env); got != "7\n8\n" {
		t.Errorf(".by-user after rm -r: %q", got)
	}
	djSettings := harness.Settings{SecretKey: opsSecret, SessionFilePath: dir}
	var loads []harness.LoadResult
	dj.Call(t, djSettings, harness.OpLoad, []string{opsUser42a, opsUser42b}, &loads)
	for _, l := range loads {
		if l.Existed {
			t.Errorf("Django still finds a session of user 42: %+v", l)
		}
	}
	mustSh(t, `rm "$D/.expired/`+opsExpiredMt+`.json" "$D/.invalid/`+opsTruncated+`"`, env)
	for _, name := range []string{opsExpiredMt, opsTruncated} {
		if _, err := os.Lstat(filepath.Join(dir, "sessionid"+name)); !os.IsNotExist(err) {
			t.Errorf("backing file %s after rm: %v", name, err)
		}
	}
	// An edit with sed and a refused one, from their own processes.
	mustSh(t, `sed -i 's/"dark"/"light"/' "$D/`+opsUser7+`.json"`, env)
	if _, _, err := sh(t, `printf '[1]' > "$D/`+opsUser7+`.json"`, env); err != nil {
		t.Logf("bash > ignores close() errors, as documented: %v", err)
	}
	dj.Call(t, djSettings, harness.OpLoad, []string{opsUser7}, &loads)
	if len(loads) != 1 || !strings.Contains(string(loads[0].Data), `"light"`) {
		t.Errorf("Django after the sed edit: %+v", loads)
	}

	type line struct {
		Op, Key, Comm, Before, After, Reason string
		UID                                  uint32
		PID                                  uint32
	}
	var lines []line
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var ln line
		if err := json.Unmarshal([]byte(l), &ln); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		lines = append(lines, ln)
	}
	var got []string
	for _, l := range lines {
		got = append(got, l.Op+" "+l.Key+" "+l.Comm)
		if l.UID != uint32(os.Getuid()) || l.PID == 0 {
			t.Errorf("caller of %s %s: uid %d pid %d", l.Op, l.Key, l.UID, l.PID)
		}
	}
	want := []string{
		"delete " + opsUser42a + " rm", "delete " + opsUser42b + " rm",
		"delete " + opsExpiredMt + " rm", "delete " + opsTruncated + " rm",
		"write " + opsUser7 + " sed", "rejected-write " + opsUser7 + " bash",
	}
	// rm -r removes in directory order: compare as sets for the first two.
	if len(got) != len(want) || strings.Join(sortedCopy(got[:2]), ",") != strings.Join(sortedCopy(want[:2]), ",") ||
		strings.Join(got[2:], "\n") != strings.Join(want[2:], "\n") {
		t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if l := lines[5]; l.Reason == "" || l.Before != l.After || l.Before == "" {
		t.Errorf("rejected write record: %+v", l)
	}
	if l := lines[4]; l.Before == l.After || l.Before == "" || l.After == "" {
		t.Errorf("write record hashes: %+v", l)
	}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestMountLostUpdate: a process that read a session through the mount,
// then saves after Django changed it, is refused (the save is not made;
// bash ignores the close error, as documented) and Django's change stays;
// a process that never read it overwrites.
func TestMountLostUpdate(t *testing.T) {
	m, dj := mountWithDjango(t)
	key := djangoCreate(t, m, dj, `{"n": 1}`)[0]
	sync := t.TempDir()
	ready, goOn := filepath.Join(sync, "ready"), filepath.Join(sync, "go")
	cmd := exec.Command("bash", "-c", `exec 3<"$F"; cat <&3 >/dev/null; exec 3<&-; touch "$READY"
while [ ! -e "$GO" ]; do sleep 0.05; done
printf '{"n": 100}' > "$F"`)
	cmd.Env = append(os.Environ(), "F="+m.File(key), "READY="+ready, "GO="+goOn)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	waitForFile(t, ready, nil)
	var saved []harness.SaveResult
	dj.Call(t, m.Settings(), harness.OpSave, []harness.SaveItem{{Key: key, Data: json.RawMessage(`{"n": 2}`)}}, &saved)
	if len(saved) != 1 || !saved[0].OK {
		t.Fatalf("Django save: %+v", saved)
	}
	if err := os.WriteFile(goOn, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Logf("bash: %v", err)
	}
	wantDjangoData(t, m, dj, key, `{"n": 2}`)
	if !strings.Contains(m.Stderr(), "session changed since it was read") {
		t.Errorf("the refused save is not logged:\n%s", m.Stderr())
	}
	// A shell that never read the session overwrites it.
	mustSh(t, `printf '{"n": 3}' > "$F"`, "F="+m.File(key))
	wantDjangoData(t, m, dj, key, `{"n": 3}`)
}

// TestMountOpsRmOversizedInvalid: a backing file over the read bound shows
// in .invalid (too large to decode), and rm of it removes it, as the CLI's
// rm does, with an audit record that says it was not hashed.
func TestMountOpsRmOversizedInvalid(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "audit.jsonl")
	m, dir := mountOps(t, "--audit-log", logPath)
	const key = "oversizedinvalid01"
	backing := filepath.Join(dir, "sessionid"+key)
	if err := os.WriteFile(backing, make([]byte, 17<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	env := "D=" + m.Dir
	if got := mustSh(t, `ls "$D/.invalid"`, env); !strings.Contains(got, key+"\n") {
		t.Fatalf("ls .invalid: %q, want %s listed", got, key)
	}
	if out, stderr, err := sh(t, `rm "$D/.invalid/`+key+`"`, env); err != nil {
		t.Fatalf("rm .invalid/%s: %v\n%s%s", key, err, out, stderr)
	}
	if _, err := os.Lstat(backing); !os.IsNotExist(err) {
		t.Errorf("backing file after rm: %v", err)
	}
	if got := mustSh(t, `ls "$D/.invalid"`, env); strings.Contains(got, key) {
		t.Errorf("ls .invalid after rm: %q", got)
	}
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Op, Key, Before, After, Reason string }
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("audit log %q: %v", raw, err)
	}
	if rec.Op != "delete" || rec.Key != key || rec.After != "" || rec.Reason == "" {
		t.Errorf("audit record %+v, want a delete of %s saying why it has no hash", rec, key)
	}
}
