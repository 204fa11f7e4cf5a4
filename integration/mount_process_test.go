package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
)

// TestMountSigtermDuringWrites: SIGTERM while a loop saves through the mount
// ends the process, leaves no mount and no torn or temp session file.
func TestMountSigtermDuringWrites(t *testing.T) {
	m, dj := mountWithDjango(t)
	keys := djangoCreate(t, m, dj, baseSession, baseSession, baseSession)
	tmp := t.TempDir()
	a, b := filepath.Join(tmp, "a.json"), filepath.Join(tmp, "b.json")
	os.WriteFile(a, []byte(editedSession), 0o600)
	os.WriteFile(b, []byte(newSession), 0o600)
	var loops []*exec.Cmd
	for _, key := range keys {
		cmd := exec.Command("bash", "-c", `while :; do cp "$A" "$F" 2>/dev/null; cp "$B" "$F" 2>/dev/null; done`)
		cmd.Env = append(os.Environ(), "A="+a, "B="+b, "F="+m.File(key))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		loops = append(loops, cmd)
	}
	t.Cleanup(func() {
		for _, c := range loops {
			c.Process.Kill()
			c.Wait()
		}
	})
	time.Sleep(time.Second)
	if err := m.Stop(t); err != nil {
		t.Errorf("mount process after SIGTERM: %v\n%s", err, m.Stderr())
	}
	if mounttest.IsMounted(m.Dir) {
		t.Errorf("%s still mounted after SIGTERM", m.Dir)
	}
	for _, c := range loops {
		c.Process.Kill()
		c.Wait()
	}
	ents, _ := os.ReadDir(m.Backing)
	for _, e := range ents {
		if strings.Contains(e.Name(), "_out_") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
	var res []harness.LoadResult
	dj.Call(t, m.Settings(), harness.OpLoad, keys, &res)
	for i, r := range res {
		okA, _, _ := harness.SameSession(r.Data, []byte(editedSession))
		okB, _, _ := harness.SameSession(r.Data, []byte(newSession))
		okBase, _, _ := harness.SameSession(r.Data, []byte(baseSession))
		if !r.OK || !r.KeyKept || !(okA || okB || okBase) {
			d, _ := json.Marshal(r)
			t.Errorf("session %s after SIGTERM: %s", keys[i], d)
		}
	}
}

// TestMountUmountAndForce: umount from another shell ends the process; a
// killed process leaves a broken mount point that mount explains and
// mount --force recovers.
func TestMountUmountAndForce(t *testing.T) {
	m := mounttest.Start(t, mounttest.Options{})
	if out, err := exec.Command(m.Binary, "umount", m.Dir).CombinedOutput(); err != nil {
		t.Fatalf("sessionfs umount: %v: %s", err, out)
	}
	if err := m.Wait(t, 15*time.Second); err != nil {
		t.Errorf("mount process after umount: %v", err)
	}
	if mounttest.IsMounted(m.Dir) {
		t.Fatalf("still mounted after umount")
	}

	m.Restart(t)
	m.Kill(t)
	if _, err := os.Stat(m.Dir); !errorIs(err, syscall.ENOTCONN) {
		t.Fatalf("after SIGKILL, stat of the mount point: %v, want ENOTCONN", err)
	}
	out, err := exec.Command(m.Binary, "mount", "--session-file-path", m.Backing, "--secret-key-file", m.KeyFile, m.Dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "transport endpoint is not connected") || !strings.Contains(string(out), "--force") {
		t.Errorf("mount over a broken mount point: %v\n%s\nwant an error explaining it and --force", err, out)
	}
	m.Restart(t, "--force")
	if _, err := os.ReadDir(m.Dir); err != nil {
		t.Errorf("ls after mount --force: %v", err)
	}
	out, err = exec.Command(m.Binary, "mount", "--session-file-path", m.Backing, "--secret-key-file", m.KeyFile, m.Backing+"/..").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "must not contain each other") {
		t.Errorf("mount over the backing directory's parent: %v\n%s", err, out)
	}
}

func errorIs(err error, target syscall.Errno) bool {
	var pe *os.PathError
	if e, ok := err.(*os.PathError); ok {
		pe = e
	}
	return pe != nil && pe.Err == target
}
