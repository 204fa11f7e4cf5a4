package integration

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/filestore"
)

// nobodyID is the uid and gid of Debian's unprivileged "nobody"/"nogroup".
const nobodyID = 65534

// TestMountAsOrdinaryUser mounts as an unprivileged user, through the setuid
// fusermount3 (the path every non-root operator takes), edits a session
// through the mount as that user, and unmounts with `sessionfs umount`.
func TestMountAsOrdinaryUser(t *testing.T) {
	mounttest.Require(t)
	if os.Geteuid() != 0 {
		harness.Missing(t, "this test switches to uid %d and needs root to do so", nobodyID)
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		harness.Missing(t, "setpriv (util-linux): %v", err)
	}
	// An ordinary user needs read/write access to /dev/fuse; Debian makes it
	// 0666, some containers 0600. Open it up for the test and put it back.
	st, err := os.Stat("/dev/fuse")
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o006 != 0o006 {
		if err := os.Chmod("/dev/fuse", 0o666); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod("/dev/fuse", st.Mode().Perm()) })
	}

	// Everything the user touches lives in a directory it may traverse.
	top, err := os.MkdirTemp("", "sessionfs-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	backing, mnt := filepath.Join(top, "sessions"), filepath.Join(top, "mnt")
	bin, keyFile := filepath.Join(top, "sessionfs"), filepath.Join(top, "secret.key")
	const secret = "ordinary-user-secret-key"
	mustCopy(t, harness.Binary(t), bin, 0o755)
	for _, d := range []string{backing, mnt} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(keyFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{backing, mnt, keyFile} {
		if err := os.Chown(p, nobodyID, nobodyID); err != nil {
			t.Fatal(err)
		}
	}
	asUser := func(name string, args ...string) *exec.Cmd {
		all := append([]string{"--reuid", "65534", "--regid", "65534", "--clear-groups", "--", name}, args...)
		cmd := exec.Command(setpriv, all...)
		cmd.Dir = top
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + top}
		return cmd
	}

	// A session written by the store, as Django would have written it.
	cd, err := codec.New(codec.Config{SecretKey: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	fst, err := filestore.New(filestore.Config{Dir: backing, Codec: cd})
	if err != nil {
		t.Fatal(err)
	}
	const key = "ordinaryuser0000000000000000001"
	if _, err := fst.Save(t.Context(), key, []byte(`{"theme":"dark"}`), store.SaveOptions{MustCreate: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(backing, "sessionid"+key), nobodyID, nobodyID); err != nil {
		t.Fatal(err)
	}

	mount := asUser(bin, "mount", "--session-file-path", backing, "--secret-key-file", keyFile, mnt)
	stdout, err := mount.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	mount.Stderr = &stderr
	if err := mount.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- mount.Wait() }()
	t.Cleanup(func() {
		if mounttest.IsMounted(mnt) {
			exec.Command("fusermount3", "-u", "-z", mnt).Run()
		}
		mount.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			mount.Process.Kill()
		}
		if t.Failed() {
			t.Logf("mount stderr:\n%s", stderr.String())
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "sessionfs: mounted") {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("mount as uid %d ended before serving: %s", nobodyID, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("mount as uid %d not ready after 30s: %s", nobodyID, stderr.String())
	}

	run := func(name string, args ...string) string {
		t.Helper()
		out, err := asUser(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v as uid %d: %v: %s", name, args, nobodyID, err, out)
		}
		return string(out)
	}
	if out := run("ls", "-ln", mnt); !strings.Contains(out, "-rw------- 1 65534 65534") || !strings.Contains(out, key+".json") {
		t.Errorf("ls -ln as the mounting user: %q, want %s.json owned by %d, mode 0600", out, key, nobodyID)
	}
	file := filepath.Join(mnt, key+".json")
	run("sed", "-i", `s/"dark"/"light"/`, file)
	if out := run("cat", file); !strings.Contains(out, `"theme": "light"`) {
		t.Errorf("cat after sed -i as uid %d: %q", nobodyID, out)
	}
	sess, err := fst.Load(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if string(sess.JSON) != `{"theme":"light"}` {
		t.Errorf("backing session after the edit: %s", sess.JSON)
	}
	// root, without allow_other, is kept out of another user's mount.
	if _, err := os.ReadDir(mnt); err == nil {
		t.Errorf("root could list uid %d's private mount", nobodyID)
	}

	run(bin, "umount", mnt)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("mount process after umount: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("mount process still running 15s after umount")
	}
	if mounttest.IsMounted(mnt) {
		t.Error("still mounted after umount")
	}
}

func mustCopy(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
