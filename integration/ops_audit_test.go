package integration

// The audit log gets one line for every kind of change the CLI makes:
// create, write, rejected write, delete, gc, revoke and rekey.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpsAuditLogEveryChange(t *testing.T) {
	dir := opsFixture(t)
	logPath := filepath.Join(t.TempDir(), "audit.log")
	const key = "auditedsession1"
	path := filepath.Join(dir, "sessionid"+key)
	fileHash := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return sha256Hex(string(b))
	}
	type want struct{ op, key, before, after, reason string }
	var wants []want
	run := func(code int, stdin string, cmd string, args ...string) {
		t.Helper()
		args = append([]string{"--audit-log", logPath}, args...)
		if res := opsRun(t, dir, []byte(stdin), cmd, args...); res.code != code {
			t.Fatalf("sessionfs %s %v: exit %d, want %d: %s", cmd, args, res.code, code, res.stderr)
		}
	}

	run(0, `{"a": 1}`, "put", "--create", key)
	h1 := fileHash(path)
	wants = append(wants, want{"create", key, "", h1, ""})
	run(0, `{"a": 2}`, "put", key)
	h2 := fileHash(path)
	wants = append(wants, want{"write", key, h1, h2, ""})
	run(5, `{"a": `, "put", key)
	wants = append(wants, want{"rejected-write", key, h2, h2, "invalid session JSON"})
	run(5, `{"a": 3}`, "put", "--create", key)
	wants = append(wants, want{"rejected-write", key, h2, h2, "already exists"})
	run(0, "", "rm", key)
	wants = append(wants, want{"delete", key, h2, "", ""})

	expiredHash := fileHash(filepath.Join(dir, "sessionid"+opsExpiredMt))
	expiredAtHash := fileHash(filepath.Join(dir, "sessionid"+opsExpiredAt))
	run(0, "", "gc", "--keep-temp")
	gcWants := map[string]want{
		opsExpiredMt: {"gc", opsExpiredMt, expiredHash, "", "expired"},
		opsExpiredAt: {"gc", opsExpiredAt, expiredAtHash, "", "expired"},
	}
	revokeWants := map[string]want{}
	for _, k := range []string{opsUser42a, opsUser42b} {
		revokeWants[k] = want{"revoke", k, fileHash(filepath.Join(dir, "sessionid"+k)), "", "user 42"}
	}
	run(0, "", "revoke", "--user", "42")
	fallbackPath := filepath.Join(dir, "sessionid"+opsFallback8)
	fallbackBefore := fileHash(fallbackPath)
	run(0, "", "rekey")
	rekeyWant := want{"rekey", opsFallback8, fallbackBefore, fileHash(fallbackPath), "fallback 1"}

	fi, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v, want 0600", fi.Mode().Perm())
	}
	text := readString(t, logPath)
	for _, secret := range []string{opsSecret, opsOldSecret} {
		if strings.Contains(text, secret) {
			t.Fatalf("the audit log contains a secret key")
		}
	}
	records := jsonLines[auditLine](t, text)
	if len(records) != len(wants)+len(gcWants)+len(revokeWants)+1 {
		t.Fatalf("%d records, want %d:\n%s", len(records), len(wants)+len(gcWants)+len(revokeWants)+1, text)
	}
	check := func(r auditLine, w want) {
		t.Helper()
		if r.Op != w.op || r.Key != w.key || r.Before != w.before || r.After != w.after || !strings.Contains(r.Reason, w.reason) {
			t.Errorf("record %+v, want %+v", r, w)
		}
		if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
			t.Errorf("record time %q: %v", r.Time, err)
		}
		if r.UID == nil || *r.UID != os.Getuid() || r.PID <= 0 || r.PID == os.Getpid() || r.Comm != "sessionfs" {
			t.Errorf("record caller uid %v pid %d comm %q: want the CLI process", r.UID, r.PID, r.Comm)
		}
		if r.BeforeContent != nil || r.AfterContent != nil {
			t.Errorf("contents logged without --audit-log-content: %+v", r)
		}
	}
	for i, w := range wants {
		check(records[i], w)
	}
	rest := records[len(wants):]
	for _, r := range rest[:2] {
		check(r, gcWants[r.Key])
	}
	for _, r := range rest[2:4] {
		check(r, revokeWants[r.Key])
	}
	check(rest[4], rekeyWant)
}

func TestOpsAuditLogContent(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "audit.log")
	const key = "contentsession1"
	opsMust(t, dir, []byte(`{"a": 1}`), "put", "--audit-log", logPath, "--audit-log-content", key)
	opsMust(t, dir, []byte(`{"a": 2, "b": [true]}`), "put", "--audit-log", logPath, "--audit-log-content", key)
	opsMust(t, dir, nil, "rm", "--audit-log", logPath, "--audit-log-content", key)
	records := jsonLines[auditLine](t, readString(t, logPath))
	if len(records) != 3 {
		t.Fatalf("%d records, want 3", len(records))
	}
	got := []string{
		string(records[0].BeforeContent), string(records[0].AfterContent),
		string(records[1].BeforeContent), string(records[1].AfterContent),
		string(records[2].BeforeContent), string(records[2].AfterContent),
	}
	want := []string{"", `{"a":1}`, `{"a":1}`, `{"a":2,"b":[true]}`, `{"a":2,"b":[true]}`, ""}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d %s content %q, want %q", i/2, []string{"before", "after"}[i%2], got[i], want[i])
		}
	}
}

// TestOpsRmOversizedFile: a file too large to read is still removed by rm
// (and logged without a hash).
func TestOpsRmOversizedFile(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "audit.log")
	const key = "oversizedfile01"
	if err := os.WriteFile(filepath.Join(dir, "sessionid"+key), make([]byte, 17<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	opsMust(t, dir, nil, "rm", "--audit-log", logPath, key)
	if _, err := os.Stat(filepath.Join(dir, "sessionid"+key)); !os.IsNotExist(err) {
		t.Errorf("oversized file not removed: %v", err)
	}
	records := jsonLines[auditLine](t, readString(t, logPath))
	if len(records) != 1 || records[0].Op != "delete" || records[0].Key != key || records[0].Reason == "" {
		t.Errorf("audit records %+v", records)
	}
}
