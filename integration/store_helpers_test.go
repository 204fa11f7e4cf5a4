package integration

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store/filestore"
)

// storeSecret is the SECRET_KEY shared by Django and sessionfs in the
// store tests.
const storeSecret = "store-integration-secret-key-0123456789"

// storeSettings are Django's settings over dir.
func storeSettings(dir string) harness.Settings {
	return harness.Settings{SecretKey: storeSecret, SessionFilePath: dir}
}

// cliResult is one run of the sessionfs binary.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs `sessionfs CMD --session-file-path dir ARGS...` with stdin.
func runCLI(t *testing.T, dir string, stdin []byte, cmd string, args ...string) cliResult {
	t.Helper()
	argv := append([]string{cmd, "--session-file-path", dir}, args...)
	return runBinary(t, []string{"DJANGO_SECRET_KEY=" + storeSecret}, stdin, argv...)
}

// mustCLI is runCLI that requires exit code 0.
func mustCLI(t *testing.T, dir string, stdin []byte, cmd string, args ...string) string {
	t.Helper()
	res := runCLI(t, dir, stdin, cmd, args...)
	if res.code != 0 {
		t.Fatalf("sessionfs %s %v: exit %d\nstderr: %s", cmd, args, res.code, res.stderr)
	}
	return res.stdout
}

// openStore is an in-process store over dir with the test's secret.
func openStore(t testing.TB, dir string) *filestore.FileStore {
	t.Helper()
	cd, err := codec.New(codec.Config{SecretKey: []byte(storeSecret)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := filestore.New(filestore.Config{Dir: dir, Codec: cd, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sameSession fails t unless two JSON texts hold the same session.
func sameSession(t *testing.T, what string, got, want []byte) {
	t.Helper()
	ok, where, err := harness.SameSession(got, want)
	if err != nil {
		t.Errorf("%s: %v", what, err)
	} else if !ok {
		t.Errorf("%s differs at %s:\n got  %s\n want %s", what, where, got, want)
	}
}

// testRand is a generator seeded per run, or from $SESSIONFS_STORE_SEED;
// the seed is logged so that a failure can be replayed.
func testRand(t *testing.T) *rand.Rand {
	seed := rand.Uint64()
	if s := os.Getenv("SESSIONFS_STORE_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SESSIONFS_STORE_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("random seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed))
}

// copyDir copies the regular files of src into a new directory, keeping
// their modification times.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
	}
	return dst
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(to, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// fileNames lists the names in dir.
func fileNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names
}

func setMtime(t *testing.T, path string, mtime time.Time) {
	t.Helper()
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// plainSessions drops the random sessions Django 3.2's file backend cannot
// load back as they are: a _session_expiry that is a string, list or object
// (load() raises TypeError) or a negative number (load() finds it expired).
func plainSessions(sessions []json.RawMessage) []json.RawMessage {
	var out []json.RawMessage
	for _, s := range sessions {
		var doc map[string]json.RawMessage
		if json.Unmarshal(s, &doc) != nil {
			continue
		}
		exp, ok := doc["_session_expiry"]
		if ok {
			var v any
			dec := json.NewDecoder(bytes.NewReader(exp))
			dec.UseNumber()
			if dec.Decode(&v) != nil {
				continue
			}
			switch v := v.(type) {
			case nil, bool:
			case json.Number:
				if strings.HasPrefix(v.String(), "-") {
					continue
				}
			default:
				if v != "" {
					continue
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// sameUserID compares a user id ls printed with wantUserID's: the same text,
// or the same number (a float id is stored as Python writes it, which need
// not be the text the test generated: -1189173.731782762 for
// -1.189173731782762e+06).
func sameUserID(got, want string) bool {
	if got == want {
		return true
	}
	g, errG := strconv.ParseFloat(got, 64)
	w, errW := strconv.ParseFloat(want, 64)
	return errG == nil && errW == nil && g == w
}

// wantUserID is _auth_user_id as sessionfs reports it: a string as is, a
// number as its text, anything else as no user.
func wantUserID(t *testing.T, session []byte) string {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(session, &doc); err != nil {
		t.Fatal(err)
	}
	raw, ok := doc["_auth_user_id"]
	if !ok {
		return ""
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}
