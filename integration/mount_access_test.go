package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
	"github.com/sessionfs/sessionfs/store"
)

// Users of the access tests: the web server's user, in the group the mount
// is given, and a stranger. Numeric ids need no /etc/passwd entry.
const (
	webGID      = 4242
	webUID      = 4243
	strangerUID = 4244
)

// otherUser is a user and group to run commands as (setpriv, as root).
type otherUser struct{ uid, gid int }

var (
	webUser  = otherUser{webUID, webGID}
	stranger = otherUser{strangerUID, strangerUID}
)

// run runs name args as u, with no supplementary groups, and returns its
// combined output and error.
func (u otherUser) run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		harness.Missing(t, "setpriv (util-linux): %v", err)
	}
	all := append([]string{"--reuid", fmt.Sprint(u.uid), "--regid", fmt.Sprint(u.gid), "--clear-groups", "--", name}, args...)
	cmd := exec.Command(setpriv, all...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// accessMount mounts, as root, a backing directory holding one session
// ({"n": 1}) at a mount point other users can reach, with args; it returns
// the mount and the session's key.
func accessMount(t *testing.T, args ...string) (*mounttest.Mount, string) {
	t.Helper()
	mounttest.Require(t)
	if os.Geteuid() != 0 {
		harness.Missing(t, "this test mounts with --allow-other and runs commands as other users: it needs root")
	}
	top, err := os.MkdirTemp("", "sessionfs-access-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) }) // after the unmount (cleanups run last first)
	mnt := filepath.Join(top, "mnt")
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	backing := t.TempDir()
	const key = "accesskey0001"
	m := mounttest.Start(t, mounttest.Options{Dir: mnt, Backing: backing, Args: args})
	if _, err := campaignStore(t, backing, m.SecretKey).Save(context.Background(), key, []byte(`{"n": 1}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	return m, key
}

// TestMountAllowOtherGroup: with --allow-other --gid G --umask 0027 a user
// of group G lists and reads the sessions and .stats.json but cannot change
// them, and a user of no such group cannot even list the mount; with
// --umask 0007 the group edits too (sed -i, whose temp file is its own);
// --allow-other alone lets nobody else in, and the log says so.
func TestMountAllowOtherGroup(t *testing.T) {
	t.Run("group-reads", func(t *testing.T) {
		m, key := accessMount(t, "--allow-other", "--gid", fmt.Sprint(webGID), "--umask", "0027")
		before := m.Snapshot(t)
		out, err := webUser.run(t, "cat", m.File(key))
		if err != nil || out != pretty(t, `{"n": 1}`) {
			t.Errorf("the group's user reading %s: %v: %q", key, err, out)
		}
		if out, err := webUser.run(t, "ls", m.Dir); err != nil || !strings.Contains(out, key+".json") {
			t.Errorf("the group's user listing the mount: %v: %q", err, out)
		}
		if out, err := webUser.run(t, "cat", filepath.Join(m.Dir, ".stats.json")); err != nil || !strings.Contains(out, `"sessions": 1`) {
			t.Errorf("the group's user reading .stats.json: %v: %q", err, out)
		}
		out, err = webUser.run(t, "sh", "-c", `echo '{"n": 2}' > "$1"`, "sh", m.File(key))
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("the group's user writing a session: %v: %q, want Permission denied", err, out)
		}
		for _, cmd := range [][]string{{"ls", m.Dir}, {"cat", m.File(key)}} {
			out, err := stranger.run(t, cmd[0], cmd[1:]...)
			if err == nil || !strings.Contains(out, "Permission denied") {
				t.Errorf("a user outside the group: %v: %v: %q, want Permission denied", cmd, err, out)
			}
		}
		if d := before.Diff(m.Snapshot(t)); d != "" {
			t.Errorf("the backing directory changed: %s", d)
		}
	})
	t.Run("group-edits", func(t *testing.T) {
		m, key := accessMount(t, "--allow-other", "--gid", fmt.Sprint(webGID), "--umask", "0007")
		if out, err := webUser.run(t, "sed", "-i", `s/"n": 1/"n": 2/`, m.File(key)); err != nil {
			t.Fatalf("the group's user editing with sed -i: %v: %s", err, out)
		}
		sess, err := campaignStore(t, m.Backing, m.SecretKey).Load(context.Background(), key)
		if err != nil || string(sess.JSON) != `{"n":2}` {
			t.Errorf("after the group's sed -i the backing session is %s (%v)", sess.JSON, err)
		}
		if out, err := stranger.run(t, "cat", m.File(key)); err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("a user outside the group: %v: %q, want Permission denied", err, out)
		}
	})
	t.Run("allow-other-alone", func(t *testing.T) {
		m, key := accessMount(t, "--allow-other")
		if out, err := webUser.run(t, "cat", m.File(key)); err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("another user with --allow-other alone: %v: %q, want Permission denied", err, out)
		}
		if !strings.Contains(m.Stderr(), "lets no other user in") {
			t.Errorf("the mount does not warn that --allow-other alone lets no one in:\n%s", m.Stderr())
		}
	})
}
