package integration

// Files a user names to the CLI (the key file, the fallbacks file, decode's
// FILE) and input it reads (stdin): a regular file only, bounded, never
// blocking, never quoted; exit codes as documented.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/campaign"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store"
)

// fileTimeout bounds each run: a read of a fifo must not block.
const fileTimeout = 30 * time.Second

// runTimed runs the binary with env (no inherited DJANGO_* or SESSION*
// variables) under fileTimeout.
func runTimed(t *testing.T, env []string, stdin []byte, args ...string) campaign.Result {
	t.Helper()
	var clean []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DJANGO_") && !strings.HasPrefix(kv, "SESSION") {
			clean = append(clean, kv)
		}
	}
	res, err := campaign.Run(fileTimeout, stdin, append(clean, env...), append([]string{harness.Binary(t)}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if res.TimedOut {
		t.Fatalf("sessionfs %q hung (killed after %v)", args, fileTimeout)
	}
	return res
}

// keyFiles plants, in a new directory, the key files of the tests: the
// secret in a regular file and behind a Kubernetes-style symlink chain,
// and the hostile ones.
type keyFiles struct {
	dir, key, k8s, fifo, big, marker string
}

func plantKeyFiles(t *testing.T) keyFiles {
	t.Helper()
	dir := t.TempDir()
	kf := keyFiles{dir: dir, marker: "MARKER-" + strings.Repeat("k", 20)}
	kf.key = writeFile(t, dir, "secret_key", []byte(storeSecret+"\n"))
	// A Kubernetes secret volume: key -> ..data/key, ..data -> ..2026_01_01.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(dir, "..2026_01_01"), 0o700))
	writeFile(t, filepath.Join(dir, "..2026_01_01"), "secret_key", []byte(storeSecret+"\n"))
	must(os.Symlink("..2026_01_01", filepath.Join(dir, "..data")))
	kf.k8s = filepath.Join(dir, "k8s_secret_key")
	must(os.Symlink("..data/secret_key", kf.k8s))
	kf.fifo = filepath.Join(dir, "fifo")
	must(syscall.Mkfifo(kf.fifo, 0o600))
	kf.big = writeFile(t, dir, "big", bytes.Repeat([]byte(kf.marker), 70<<10/len(kf.marker)+1))
	return kf
}

func TestCLIKeyFiles(t *testing.T) {
	dir := t.TempDir()
	const key = "keyfilesess1"
	mustCLI(t, dir, []byte(`{"a": 1}`), "put", key)
	kf := plantKeyFiles(t)
	zeroLink := filepath.Join(kf.dir, "zero")
	if err := os.Symlink("/dev/zero", zeroLink); err != nil {
		t.Fatal(err)
	}
	ok := []struct {
		name string
		env  []string
		args []string
	}{
		{"key file", nil, []string{"--secret-key-file", kf.key}},
		{"key file behind symlinks (Kubernetes)", nil, []string{"--secret-key-file", kf.k8s}},
		{"key file in the environment, behind symlinks", []string{"DJANGO_SECRET_KEY_FILE=" + kf.k8s}, nil},
		{"fallbacks file behind symlinks", []string{"DJANGO_SECRET_KEY=" + storeSecret}, []string{"--secret-key-fallbacks-file", kf.k8s}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			res := runTimed(t, c.env, nil, append(append([]string{"--session-file-path", dir}, c.args...), "show", key)...)
			if res.Code != 0 || !strings.Contains(res.Stdout, `"a": 1`) {
				t.Errorf("show: exit %d: %s%s", res.Code, res.Stdout, res.Stderr)
			}
		})
	}
	refused := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"key file is a fifo", nil, []string{"--secret-key-file", kf.fifo}, "secret key file " + kf.fifo + " is not a regular file (a fifo)"},
		{"key file in the environment is a fifo", []string{"DJANGO_SECRET_KEY_FILE=" + kf.fifo}, nil, "secret key file " + kf.fifo + " is not a regular file (a fifo)"},
		{"key file is /dev/zero", nil, []string{"--secret-key-file", "/dev/zero"}, "secret key file /dev/zero is not a regular file (a device)"},
		{"key file links to /dev/zero", nil, []string{"--secret-key-file", zeroLink}, "is not a regular file (a device)"},
		{"key file is a directory", nil, []string{"--secret-key-file", kf.dir}, "is not a regular file (a directory)"},
		{"key file is over 64 KiB", nil, []string{"--secret-key-file", kf.big}, "secret key file " + kf.big + ": file too large"},
		{"key file is missing", nil, []string{"--secret-key-file", filepath.Join(kf.dir, "nope")}, "no such file or directory"},
		{"fallbacks file is a fifo", []string{"DJANGO_SECRET_KEY=" + storeSecret}, []string{"--secret-key-fallbacks-file", kf.fifo}, "secret key fallbacks file " + kf.fifo + " is not a regular file (a fifo)"},
		{"fallbacks file is /dev/zero", []string{"DJANGO_SECRET_KEY=" + storeSecret}, []string{"--secret-key-fallbacks-file", "/dev/zero"}, "is not a regular file (a device)"},
		{"fallbacks file is over 64 KiB", []string{"DJANGO_SECRET_KEY=" + storeSecret}, []string{"--secret-key-fallbacks-file", kf.big}, "file too large"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			res := runTimed(t, c.env, nil, append(append([]string{"--session-file-path", dir}, c.args...), "show", key)...)
			if res.Code != 1 || !strings.Contains(res.Stderr, c.want) {
				t.Errorf("show: exit %d, want 1 (configuration error) and %q: %s", res.Code, c.want, res.Stderr)
			}
			if strings.Contains(res.Stderr, kf.marker[:12]) {
				t.Errorf("the error quotes the file's content: %.200s", res.Stderr)
			}
		})
	}
}

// TestCLIInputBounds: decode's FILE is a regular file (a pipe is given on
// stdin); input over 64 MiB, in a file or on stdin, is too large: exit 3,
// the code of every too-large session, for decode, encode and put alike.
func TestCLIInputBounds(t *testing.T) {
	dir := t.TempDir()
	kf := plantKeyFiles(t)
	env := []string{"DJANGO_SECRET_KEY=" + storeSecret}
	huge := filepath.Join(t.TempDir(), "huge")
	if err := os.WriteFile(huge, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 64<<20+1); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	over := make([]byte, 64<<20+1)
	for _, c := range []struct {
		name  string
		stdin []byte
		args  []string
		code  int
		want  string
	}{
		{"decode of a fifo", nil, []string{"decode", kf.fifo}, 1, "input file " + kf.fifo + " is not a regular file (a fifo)"},
		{"decode of /dev/zero", nil, []string{"decode", "/dev/zero"}, 1, "is not a regular file (a device)"},
		{"decode of a file over 64 MiB", nil, []string{"decode", huge}, 3, "input file " + huge + ": session data too large"},
		{"decode of stdin over 64 MiB", over, []string{"decode"}, 3, "reading stdin: session data too large"},
		{"encode of stdin over 64 MiB", over, []string{"encode"}, 3, "reading stdin: session data too large"},
		{"put of stdin over 64 MiB", over, []string{"--session-file-path", dir, "put", "bigputsess1"}, 3, "session JSON from stdin: session data too large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runTimed(t, env, c.stdin, c.args...)
			if res.Code != c.code || !strings.Contains(res.Stderr, c.want) {
				t.Errorf("exit %d, want %d and %q: %s", res.Code, c.code, c.want, res.Stderr)
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(dir, "sessionidbigputsess1")); err == nil {
		t.Errorf("put over 64 MiB created the session")
	}
}

// TestCLISocketSession: a socket planted under a session's name is "not a
// regular file" like a fifo: show and rm exit 3 and leave it.
func TestCLISocketSession(t *testing.T) {
	dir := t.TempDir()
	for _, key := range []string{"plantedsocket1", "plantedfifo01"} {
		p := filepath.Join(dir, "sessionid"+key)
		var err error
		switch key {
		case "plantedsocket1":
			err = syscall.Mknod(p, syscall.S_IFSOCK|0o600, 0)
		case "plantedfifo01":
			err = syscall.Mkfifo(p, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"show", "rm"} {
			res := runCLI(t, dir, nil, cmd, key)
			if res.code != 3 || !strings.Contains(res.stderr, "not a regular file") {
				t.Errorf("%s of a %s: exit %d, want 3 (not a regular file): %s", cmd, key, res.code, res.stderr)
			}
		}
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("rm removed the planted %s: %v", key, err)
		}
	}
	st := openStore(t, dir)
	if _, err := st.Stat(t.Context(), "plantedsocket1"); err == nil || !strings.Contains(err.Error(), store.ErrNotRegular.Error()) {
		t.Errorf("store Stat of the socket: %v", err)
	}
}

// TestCLIAuditLogFile: the audit log names session keys (logins) and may
// hold contents, so it is only ever the process's own private regular
// file: a symlink (to a private file even), a file open to group or others,
// another user's file, a fifo are refused with exit 1, before any change,
// and left as they were; by put, rm and the mount alike.
func TestCLIAuditLogFile(t *testing.T) {
	dir := t.TempDir()
	const key = "auditfilesess1"
	mustCLI(t, dir, []byte(`{"a": 1}`), "put", key)
	logs := t.TempDir()
	file := func(name string, mode os.FileMode) string {
		p := writeFile(t, logs, name, []byte("earlier line\n"))
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	private := file("private.log", 0o600)
	link := filepath.Join(logs, "link.log")
	if err := os.Symlink(private, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(logs, "fifo.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	other := file("other.log", 0o600)
	if err := os.Chown(other, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	readable := file("readable.log", 0o644)
	mnt := t.TempDir()
	for _, c := range []struct{ name, path, want string }{
		{"symlink to a private file", link, "audit log " + link + " is a symlink, which is never followed"},
		{"world-readable file", readable, "audit log " + readable + " is open to group or others (mode 0644)"},
		{"group-readable file", file("group.log", 0o640), "is open to group or others (mode 0640)"},
		{"another user's file", other, "belongs to uid 65534"},
		{"fifo", fifo, "audit log " + fifo + " is not a regular file (a fifo)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := fileState(c.path) + fileState(private)
			for _, args := range [][]string{
				{"put", key, "--audit-log", c.path},
				{"rm", key, "--audit-log", c.path},
				{"mount", mnt, "--audit-log", c.path},
			} {
				res := runTimed(t, []string{"DJANGO_SECRET_KEY=" + storeSecret, "SESSION_FILE_PATH=" + dir}, []byte(`{"changed": true}`), args...)
				if res.Code != 1 || !strings.Contains(res.Stderr, c.want) {
					t.Errorf("%s: exit %d, want 1 and %q: %s", args[0], res.Code, c.want, res.Stderr)
				}
			}
			if after := fileState(c.path) + fileState(private); after != before {
				t.Errorf("the refused audit log changed: %s -> %s", before, after)
			}
			if got := mustCLI(t, dir, nil, "show", key); !strings.Contains(got, `"a": 1`) {
				t.Errorf("the session changed although its audit log was refused: %s", got)
			}
		})
	}
	if mounted, err := os.ReadFile("/proc/self/mountinfo"); err != nil || strings.Contains(string(mounted), " "+mnt+" ") {
		t.Errorf("a mount with a refused audit log is mounted (%v)", err)
	}
	// The private file itself is accepted, and stays 0600.
	mustCLI(t, dir, []byte(`{"a": 2}`), "put", key, "--audit-log", private)
	if st := fileState(private); !strings.Contains(st, "-rw-------") || !strings.Contains(st, `\"op\":\"write\"`) {
		t.Errorf("audit log after a put: %s", st)
	}
}

// fileState is a file's mode and content, read without blocking on a fifo
// or following a symlink.
func fileState(path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return err.Error()
	}
	if !fi.Mode().IsRegular() {
		return fi.Mode().String()
	}
	b, err := os.ReadFile(path)
	return fmt.Sprintf("%v %q %v", fi.Mode(), b, err)
}
