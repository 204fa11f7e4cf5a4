// Package mounttest mounts the built sessionfs binary in a subprocess for
// tests: tools (cat, sed, vim, Django) are exec'ed against a mount served by
// another process, never by the test process itself (go-fuse: deadlocks).
// Every mount is unmounted in t.Cleanup, even when the test fails.
package mounttest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/sessionfs/sessionfs/integration/harness"
)

// readyLine is what `sessionfs mount` prints on stdout once it serves.
const readyLine = "sessionfs: mounted"

// startTimeout bounds the wait for the ready line.
const startTimeout = 30 * time.Second

// Mount is a running `sessionfs mount`.
type Mount struct {
	Dir       string // the mount point
	Backing   string // SESSION_FILE_PATH
	KeyFile   string // file holding SecretKey
	SecretKey string
	Binary    string

	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, valid after done
	stderr *lockedBuffer
}

// Options choose how to mount.
type Options struct {
	Args    []string // extra flags before the mount point, e.g. --read-only
	Backing string   // existing backing directory; default a new t.TempDir()
	Dir     string   // existing mount point; default a new t.TempDir()
}

// Require skips t (fails it under CI=true) unless FUSE can be used here.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		harness.Missing(t, "FUSE: %v; install with: %s", err, harness.InstallHint)
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		harness.Missing(t, "fusermount3 (package fuse3): %v; install with: %s", err, harness.InstallHint)
	}
}

// Start mounts a new backing directory with a fresh secret key and returns
// once the mount serves requests.
func Start(t testing.TB, opt Options) *Mount {
	t.Helper()
	Require(t)
	m := &Mount{Binary: harness.Binary(t), Backing: opt.Backing, Dir: opt.Dir}
	if m.Backing == "" {
		m.Backing = t.TempDir()
	}
	if m.Dir == "" {
		m.Dir = t.TempDir()
	}
	m.SecretKey = "test-" + rand.Text() + rand.Text()
	m.KeyFile = filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(m.KeyFile, []byte(m.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start(t, opt.Args)
	return m
}

// Restart mounts the same backing directory again at the same mount point,
// with extra flags (after a Stop or a Kill).
func (m *Mount) Restart(t testing.TB, args ...string) {
	t.Helper()
	m.start(t, args)
}

func (m *Mount) start(t testing.TB, args []string) {
	t.Helper()
	argv := append([]string{"mount", "--session-file-path", m.Backing, "--secret-key-file", m.KeyFile}, args...)
	argv = append(argv, m.Dir)
	cmd := exec.Command(m.Binary, argv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	m.stderr = &lockedBuffer{}
	cmd.Stderr = m.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", m.Binary, err)
	}
	m.cmd, m.done = cmd, make(chan struct{})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.HasPrefix(sc.Text(), readyLine) {
				close(ready)
				signalled = true
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	done, m2 := m.done, m
	go func() {
		m2.err = cmd.Wait()
		close(done)
	}()
	// Registered before waiting: a mount that comes up late is still undone.
	t.Cleanup(func() { m.cleanup(t, cmd, done) })
	select {
	case <-ready:
	case <-done:
		t.Fatalf("sessionfs mount exited before serving: %v\nstderr:\n%s", m.err, m.stderr.String())
	case <-time.After(startTimeout):
		t.Fatalf("sessionfs mount not ready after %v\nstderr:\n%s", startTimeout, m.stderr.String())
	}
	if !IsMounted(m.Dir) {
		t.Fatalf("ready line printed but %s is not in /proc/self/mountinfo", m.Dir)
	}
}

// cleanup stops the process and makes sure nothing stays mounted.
func (m *Mount) cleanup(t testing.TB, cmd *exec.Cmd, done chan struct{}) {
	select {
	case <-done:
	default:
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("sessionfs mount ignored SIGTERM for 15s; killing it\nstderr:\n%s", m.stderr.String())
			cmd.Process.Kill()
			<-done
		}
	}
	if IsMounted(m.Dir) {
		if out, err := exec.Command("fusermount3", "-u", "-z", m.Dir).CombinedOutput(); err != nil {
			t.Errorf("lazy unmount of %s: %v: %s", m.Dir, err, out)
		}
	}
	if t.Failed() {
		t.Logf("sessionfs mount stderr:\n%s", m.stderr.String())
	}
}

// Stop sends SIGTERM and waits for the process; it returns the exit error.
func (m *Mount) Stop(t testing.TB) error {
	t.Helper()
	m.cmd.Process.Signal(syscall.SIGTERM)
	return m.Wait(t, 15*time.Second)
}

// Kill kills the serving process with SIGKILL, leaving the mount point
// broken ("transport endpoint is not connected") as a crash would.
func (m *Mount) Kill(t testing.TB) {
	t.Helper()
	m.cmd.Process.Kill()
	m.Wait(t, 15*time.Second)
}

// Wait waits for the process to exit by itself (after umount).
func (m *Mount) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-m.done:
		return m.err
	case <-time.After(timeout):
		t.Fatalf("sessionfs mount still running after %v", timeout)
		return nil
	}
}

// Stderr is the mount process's log so far.
func (m *Mount) Stderr() string { return m.stderr.String() }

// Settings are the Django settings of the same backing directory and key.
func (m *Mount) Settings() harness.Settings {
	return harness.Settings{SecretKey: m.SecretKey, SessionFilePath: m.Backing}
}

// File is the path of session key through the mount.
func (m *Mount) File(key string) string { return filepath.Join(m.Dir, key+".json") }

// BackingFile is the path of session key's backing file.
func (m *Mount) BackingFile(key string) string { return filepath.Join(m.Backing, "sessionid"+key) }

// Snapshot is every backing file's bytes and mtime by name.
type Snapshot map[string]string

// Snapshot reads the backing directory.
func (m *Mount) Snapshot(t testing.TB) Snapshot {
	t.Helper()
	ents, err := os.ReadDir(m.Backing)
	if err != nil {
		t.Fatal(err)
	}
	s := Snapshot{}
	for _, e := range ents {
		p := filepath.Join(m.Backing, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		s[e.Name()] = fmt.Sprintf("%s mtime=%d mode=%v", b, fi.ModTime().UnixNano(), fi.Mode())
	}
	return s
}

// Diff describes how s and other differ, "" when they are equal.
func (s Snapshot) Diff(other Snapshot) string {
	var b strings.Builder
	for name, v := range s {
		if w, ok := other[name]; !ok {
			fmt.Fprintf(&b, "%s removed; ", name)
		} else if v != w {
			fmt.Fprintf(&b, "%s changed; ", name)
		}
	}
	for name := range other {
		if _, ok := s[name]; !ok {
			fmt.Fprintf(&b, "%s added; ", name)
		}
	}
	return b.String()
}

// IsMounted reports whether dir is a mount point in /proc/self/mountinfo.
func IsMounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.ReplaceAll(f[4], `\040`, " ") == dir {
			return true
		}
	}
	return false
}

// Presence watches a backing file while an edit runs: inotify reports every
// removal of its name (unlink, or a rename away), which sampling could miss,
// and a poller checks that it can be found. Either is a window in which
// Django would find the session missing.
type Presence struct {
	stop    chan struct{}
	done    chan struct{}
	fd      int
	Polls   int // polls made
	Missing int // polls that did not find the file
	Removed int // inotify IN_DELETE / IN_MOVED_FROM events for the name
	Err     error
}

// WatchPresence starts watching path.
func WatchPresence(path string) *Presence {
	p := &Presence{stop: make(chan struct{}), done: make(chan struct{}), fd: -1}
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err == nil {
		_, err = syscall.InotifyAddWatch(fd, filepath.Dir(path), syscall.IN_DELETE|syscall.IN_MOVED_FROM)
	}
	if err != nil {
		p.Err = fmt.Errorf("inotify on %s: %w", filepath.Dir(path), err)
	} else {
		p.fd = fd
	}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			p.Polls++
			if _, err := os.Lstat(path); err != nil {
				p.Missing++
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	return p
}

// Stop ends the watch; the counts are final afterwards.
func (p *Presence) Stop(name string) {
	close(p.stop)
	<-p.done
	if p.fd < 0 {
		return
	}
	defer syscall.Close(p.fd)
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(p.fd, buf)
		if n <= 0 || err != nil {
			return
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			if strings.TrimRight(string(nameBytes), "\x00") == name {
				p.Removed++
			}
			off += syscall.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
