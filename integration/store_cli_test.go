package integration

// The store CLI's exit codes and machine-readable output; these need only
// the built binary.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

func TestStoreVerifyExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := "goodsession01"
	mustCLI(t, dir, []byte(`{"a": 1}`), "put", "--create", good)
	if res := runCLI(t, dir, nil, "verify"); res.code != 0 || res.stdout != "" {
		t.Fatalf("verify of good sessions: exit %d, stdout %q", res.code, res.stdout)
	}

	other, err := codec.New(codec.Config{SecretKey: []byte("some-other-site-secret-key")})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Encode([]byte(`{"a": 1}`), codec.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	badSig := "badsignature01"
	if err := os.WriteFile(filepath.Join(dir, "sessionid"+badSig), foreign, 0o600); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, dir, nil, "verify")
	if res.code != 2 || !strings.HasPrefix(res.stdout, badSig+"\tbad-signature\t") || strings.Count(res.stdout, "\n") != 1 {
		t.Errorf("verify with a bad signature: exit %d (want 2), stdout %q", res.code, res.stdout)
	}

	corrupt := "corruptfile01"
	if err := os.WriteFile(filepath.Join(dir, "sessionid"+corrupt), []byte("this is not a session \x00\xff"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "sessionidplantedlink")); err != nil {
		t.Fatal(err)
	}
	res = runCLI(t, dir, nil, "verify", "--json")
	if res.code != 3 {
		t.Errorf("verify with corrupt files: exit %d, want 3", res.code)
	}
	problems := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		var rec struct{ Key, Problem, Error string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("verify --json line %q: %v", line, err)
		}
		if rec.Error == "" {
			t.Errorf("%s: no error text", rec.Key)
		}
		problems[rec.Key] = rec.Problem
	}
	want := map[string]string{badSig: "bad-signature", corrupt: "corrupt", "plantedlink": "not-regular"}
	if len(problems) != len(want) {
		t.Errorf("verify --json reported %v, want %v", problems, want)
	}
	for key, p := range want {
		if problems[key] != p {
			t.Errorf("%s: problem %q, want %q", key, problems[key], p)
		}
	}
}

func TestStoreGCOutputAndTempFiles(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, dir, []byte(`{"a": 1}`), "put", "--create", "oldsession001")
	mustCLI(t, dir, []byte(`{"a": 2}`), "put", "--create", "newsession001")
	old := time.Now().Add(-1209600*time.Second - time.Hour)
	setMtime(t, filepath.Join(dir, "sessionidoldsession001"), old)
	staleTemp := filepath.Join(dir, "sessionidoldsession001_out_12345")
	freshTemp := filepath.Join(dir, "sessionidnewsession001_out_67890")
	for _, p := range []string{staleTemp, freshTemp} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setMtime(t, staleTemp, time.Now().Add(-time.Hour))

	dry := mustCLI(t, dir, nil, "gc", "--dry-run")
	if dry != "oldsession001\n"+filepath.Base(staleTemp)+"\n" {
		t.Errorf("gc --dry-run printed %q", dry)
	}
	if len(fileNames(t, dir)) != 4 {
		t.Errorf("gc --dry-run removed files: %v", fileNames(t, dir))
	}
	res := runCLI(t, dir, nil, "gc")
	if res.code != 0 || res.stdout != dry || !strings.Contains(res.stderr, "removed 1 expired of 2 sessions and 1 stale temp files") {
		t.Errorf("gc: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	left := fileNames(t, dir)
	if len(left) != 2 || !left["sessionidnewsession001"] || !left[filepath.Base(freshTemp)] {
		t.Errorf("after gc: %v", left)
	}
	if res := runCLI(t, dir, nil, "rm", "oldsession001"); res.code != 4 {
		t.Errorf("rm of the collected session: exit %d, want 4", res.code)
	}
	if res := runCLI(t, dir, nil, "rm", "BAD"); res.code != 5 {
		t.Errorf("rm of an invalid key: exit %d, want 5", res.code)
	}
}

func TestStorePutKeepMtime(t *testing.T) {
	dir := t.TempDir()
	const key = "keepmtimekey1"
	path := filepath.Join(dir, "sessionid"+key)
	mustCLI(t, dir, []byte(`{"v": 1}`), "put", key)
	mtime := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	setMtime(t, path, mtime)
	mustCLI(t, dir, []byte(`{"v": 2}`), "put", "--keep-mtime", key)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("put --keep-mtime: mtime %v, want %v", fi.ModTime(), mtime)
	}
	if got := mustCLI(t, dir, nil, "show", key); got != "{\n  \"v\": 2\n}\n" {
		t.Errorf("show after put: %q", got)
	}
	mustCLI(t, dir, []byte(`{"v": 3}`), "put", key)
	if fi, _ := os.Stat(path); !fi.ModTime().After(mtime.Add(time.Hour)) {
		t.Errorf("put without --keep-mtime kept the old mtime %v", fi.ModTime())
	}
}
