package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/campaign"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
	"github.com/sessionfs/sessionfs/store"
)

// nsLastPid is where root sets the last pid the kernel handed out, so
// that the next process gets the one after: PID reuse on demand.
const nsLastPid = "/proc/sys/kernel/ns_last_pid"

// wrongPid is the exit code of a process that did not get the pid it was
// started for (something else forked first): the caller tries again.
const wrongPid = 99

// startWithPid runs `sh -c script` as a process with pid, retrying while
// other processes of the machine take that pid first; script runs only in
// the process that got it. It returns sh's combined output and error.
func startWithPid(pid int, script string, args ...string) (string, error) {
	guard := fmt.Sprintf(`[ "$$" = %d ] || exit %d; `, pid, wrongPid)
	for try := 0; try < 100; try++ {
		if err := os.WriteFile(nsLastPid, []byte(fmt.Sprint(pid-1)), 0o644); err != nil {
			return "", fmt.Errorf("setting %s: %w", nsLastPid, err)
		}
		cmd := exec.Command("sh", append([]string{"-c", guard + script, "sh"}, args...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == wrongPid {
			continue
		}
		return string(out), err
	}
	return "", fmt.Errorf("pid %d was taken by another process 100 times in a row", pid)
}

// requirePidReuse skips (fails under CI=true) unless this process can hand
// out pids at will.
func requirePidReuse(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		harness.Missing(t, "this test recycles a pid through %s: it needs root", nsLastPid)
	}
	if _, err := os.Stat(nsLastPid); err != nil {
		harness.Missing(t, "%s: %v", nsLastPid, err)
	}
}

// blindWriteWithRecycledPid: a process reads key through the mount and
// exits, Django (the store) saves the session, and a new process that is
// handed the reader's pid copies src over key without reading it. That
// write must go through: the newcomer never read the session. It returns
// "" or what went wrong.
func blindWriteWithRecycledPid(t *testing.T, m *mounttest.Mount, key, src, want string) string {
	reader := exec.Command("cat", m.File(key))
	if out, err := reader.CombinedOutput(); err != nil {
		return fmt.Sprintf("reader: %v: %s", err, out)
	}
	pid := reader.Process.Pid
	st := campaignStore(t, m.Backing, m.SecretKey)
	if _, err := st.Save(context.Background(), key, []byte(`{"django": "saved meanwhile"}`), store.SaveOptions{}); err != nil {
		return fmt.Sprintf("Django's save: %v", err)
	}
	// The mount remembers a thread's process for 100 ms; a pid cannot come
	// round that fast unless forced, as here.
	time.Sleep(200 * time.Millisecond)
	out, err := startWithPid(pid, `exec cp "$1" "$2"`, src, m.File(key))
	if err != nil {
		return fmt.Sprintf("cp by a new process with the reader's pid %d: %v: %s", pid, err, strings.TrimSpace(out))
	}
	sess, err := st.Load(context.Background(), key)
	if err != nil || string(sess.JSON) != want {
		return fmt.Sprintf("after the blind cp the session is %s (%v), want %s", sess.JSON, err, want)
	}
	return ""
}

// TestMountPidReuse: lost-update protection knows processes by pid and
// start time, so a process that inherits the pid of an earlier reader is
// not refused as if it had read the session (real processes, the pid
// recycled through ns_last_pid).
func TestMountPidReuse(t *testing.T) {
	requirePidReuse(t)
	m := mounttest.Start(t, mounttest.Options{})
	const key = "pidreuse00001"
	if _, err := campaignStore(t, m.Backing, m.SecretKey).Save(context.Background(), key, []byte(`{"n": 1}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir() + "/new.json"
	if err := os.WriteFile(src, []byte(`{"new": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if msg := blindWriteWithRecycledPid(t, m, key, src, `{"new":true}`); msg != "" {
			t.Errorf("round %d: %s", i, msg)
		}
	}
}

// TestMountCloseOnExecDoesNotHang: a process that holds session files open
// for writing and execs (Python's os.system) closes them inside execve,
// which then holds a lock /proc/<pid>/stat waits for: the mount answers
// those closes without reading it, and the writes are saved.
func TestMountCloseOnExecDoesNotHang(t *testing.T) {
	m := mounttest.Start(t, mounttest.Options{})
	keys := []string{"cloexec00001", "cloexec00002", "cloexec00003"}
	st := campaignStore(t, m.Backing, m.SecretKey)
	for _, key := range keys {
		if _, err := st.Save(context.Background(), key, []byte(`{"n": 1}`), store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	script := `
import os, sys
fds = []
for path in sys.argv[1:]:
    open(path).read()  # a reader first: its save is conditional
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # close-on-exec, as Python opens everything
    os.write(fd, b'{"n": 2}')
    fds.append(fd)
if os.system("true") != 0:
    sys.exit("os.system failed")
for fd in fds:
    os.close(fd)
`
	args := []string{"-c", script}
	for _, key := range keys {
		args = append(args, m.File(key))
	}
	// A close stuck inside execve cannot be interrupted, and neither can
	// the process that vforked it: on a hang, killing the mount is what
	// ends the close (the connection aborts) and lets the test report it.
	mountPID, err := campaign.MountPID(m.Binary, m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(harness.SystemPython, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hung := time.AfterFunc(time.Minute, func() { syscall.Kill(mountPID, syscall.SIGKILL) })
	err = cmd.Wait()
	if !hung.Stop() {
		t.Fatalf("python holding open files across exec hung for a minute (the mount was killed): %s", out.String())
	}
	if err != nil {
		t.Fatalf("python holding open files across exec: %v: %s", err, out.String())
	}
	for _, key := range keys {
		if sess, err := st.Load(context.Background(), key); err != nil || string(sess.JSON) != `{"n":2}` {
			t.Errorf("%s: %s %v", key, sess.JSON, err)
		}
	}
}
