package audit

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLogRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	l, err := Open(path, Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	caller := Caller{UID: 1000, PID: 4242, Comm: "vim"}
	if err := l.Log(caller, Record{Op: OpWrite, Key: "abcdefgh1", Before: []byte("old"), After: []byte{},
		BeforeJSON: []byte(`{"a":1}`), AfterJSON: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Log(caller, Record{Op: OpRejectedWrite, Key: "abcdefgh1", Reason: "invalid JSON", AfterJSON: []byte("{oops")}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Log(caller, Record{Op: OpDelete, Key: "abcdefgh1"}); err == nil {
		t.Errorf("Log after Close succeeded")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v, want 0600", fi.Mode().Perm())
	}
	lines := readLines(t, path)
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	want := map[string]any{
		"time": "2026-01-02T02:04:05.123456789Z", "op": "write", "key": "abcdefgh1",
		"uid": 1000.0, "pid": 4242.0, "comm": "vim",
		"before": fmt.Sprintf("%x", sha256.Sum256([]byte("old"))),
		"after":  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", // SHA-256 of nothing: an empty placeholder
	}
	if fmt.Sprint(lines[0]) != fmt.Sprint(want) {
		t.Errorf("record without content option:\n got  %v\n want %v", lines[0], want)
	}
	if lines[1]["reason"] != "invalid JSON" || lines[1]["before"] != "" || lines[1]["after"] != "" {
		t.Errorf("rejected write: %v", lines[1])
	}
}

func TestLogContentOnlyWhenAsked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{Content: true})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Content() {
		t.Errorf("Content() false with Options.Content")
	}
	rec := Record{Op: OpRejectedWrite, Key: "abcdefgh1", BeforeJSON: []byte(`{"a": 1}`), AfterJSON: []byte("{oops")}
	if err := l.Log(Self(), rec); err != nil {
		t.Fatal(err)
	}
	l.Close()
	lines := readLines(t, path)
	before, _ := json.Marshal(lines[0]["before_content"])
	if string(before) != `{"a":1}` || lines[0]["after_content"] != "{oops" {
		t.Errorf("contents: before %s, after %v", before, lines[0]["after_content"])
	}
	if lines[0]["pid"] != float64(os.Getpid()) || lines[0]["comm"] != "sessionfs" {
		t.Errorf("Self caller: %v", lines[0])
	}
}

// TestConcurrentLogging: goroutines and two Loggers on one file (as two
// processes would) give whole lines only.
func TestConcurrentLogging(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a, err := Open(path, Options{Content: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(path, Options{Content: true})
	if err != nil {
		t.Fatal(err)
	}
	big := `{"v":"` + strings.Repeat("x", 10000) + `"}` // longer than PIPE_BUF
	var wg sync.WaitGroup
	for i := range 8 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			for j := range 50 {
				if err := l.Log(Caller{PID: uint32(i)}, Record{Op: OpWrite, Key: fmt.Sprintf("key%05d", j), AfterJSON: []byte(big)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	a.Close()
	b.Close()
	if n := len(readLines(t, path)); n != 400 {
		t.Errorf("%d lines, want 400", n)
	}
}

func TestNilLoggerLogsNothing(t *testing.T) {
	var l *Logger
	if err := l.Log(Self(), Record{Op: OpDelete}); err != nil || l.Content() || l.Close() != nil {
		t.Errorf("nil Logger is not a no-op")
	}
}

func TestOpenRefusesNonRegular(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{}); err == nil {
		t.Errorf("opening a directory as the audit log succeeded")
	}
	if _, err := os.Stat("/dev/null"); err == nil {
		if _, err := Open("/dev/null", Options{}); err == nil {
			t.Errorf("opening /dev/null as the audit log succeeded")
		}
	}
}

// TestOpenRefusesUnsafeFiles: the log names session keys (logins), so only
// a regular file of the process's own user, closed to group and others and
// not reached through a symlink, is opened; the refused file is unchanged.
func TestOpenRefusesUnsafeFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("kept\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	private := file("private.log", 0o600)
	link := filepath.Join(dir, "link.log")
	if err := os.Symlink(private, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock.log")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cases := []struct{ name, path, want string }{
		{"symlink to a private file", link, "is a symlink, which is never followed"},
		{"dangling symlink", mustSymlink(t, filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling.log")), "is a symlink"},
		{"world-readable", file("0644.log", 0o644), "open to group or others (mode 0644)"},
		{"group-readable", file("0640.log", 0o640), "open to group or others (mode 0640)"},
		{"world-writable", file("0602.log", 0o602), "open to group or others (mode 0602)"},
		{"fifo", fifo, "not a regular file (a fifo)"},
		{"socket", sock, "not a regular file (a socket)"},
		{"directory", t.TempDir(), "not a regular file (a directory)"},
		{"device", "/dev/null", "not a regular file (a device)"},
	}
	if os.Geteuid() == 0 {
		other := file("other.log", 0o600)
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, struct{ name, path, want string }{"another user's", other, "belongs to uid 65534"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := state(c.path)
			l, err := Open(c.path, Options{})
			if err == nil {
				l.Close()
				t.Fatalf("Open(%s) succeeded", c.path)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("Open(%s): %v; want the path and %q", c.path, err, c.want)
			}
			if after := state(c.path); after != before {
				t.Errorf("the refused file changed: %q -> %q", before, after)
			}
		})
	}
	t.Run("fifo with a reader does not block", func(t *testing.T) {
		r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if l, err := Open(fifo, Options{}); err == nil || !strings.Contains(err.Error(), "a fifo") {
			l.Close()
			t.Errorf("Open of a fifo with a reader: %v", err)
		}
	})
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Errorf("the dangling symlink's target was created")
	}
	if got, want := state(private), state(file("private-copy.log", 0o600)); got != want {
		t.Errorf("the file behind the refused symlink changed: %s, want %s", got, want)
	}
	l, err := Open(private, Options{})
	if err != nil {
		t.Fatalf("Open of a private regular file: %v", err)
	}
	l.Close()
}

// state is a file's content and mode, read without following a symlink
// or opening anything but a regular file.
func state(path string) string {
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

func mustSymlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}
