package integration

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/campaign"
	"github.com/sessionfs/sessionfs/integration/mounttest"
)

// TestCampaignLifecycle: the mount's life cycle under
// faults. Each step gives a clear error and loses nothing already saved.
func TestCampaignLifecycle(t *testing.T) {
	mounttest.Require(t)
	tl := campaign.Start(t, "lifecycle")
	steps := []struct {
		name string
		run  func(t *testing.T, tl *campaign.Tally)
	}{
		{"umount-while-open", lifeUmountBusy},
		{"remount-after-kill", lifeRemountAfterKill},
		{"backing-removed", lifeBackingRemoved},
		{"backing-read-only", lifeBackingReadOnly},
		{"disk-full", lifeDiskFull},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			tl.Faults.Add(1)
			s.run(t, tl)
		})
	}
}

const lifeKey = "lifecycle12345678"

// lifeSession writes a campaign document through the mount and returns its tag.
func lifeSession(t *testing.T, m *mounttest.Mount, tag string) {
	t.Helper()
	if err := writeThrough(m.File(lifeKey), campaign.Doc(tag, 5), os.O_CREATE|os.O_TRUNC); err != nil {
		t.Fatalf("saving %s through the mount: %v", lifeKey, err)
	}
}

// wantSaved checks the backing file decodes to the document tag.
func wantSaved(t *testing.T, tl *campaign.Tally, m *mounttest.Mount, tag string) {
	t.Helper()
	tl.Checked.Add(1)
	bs := checkBacking(t, tl, m.Backing, m.SecretKey)
	if bs.Sessions[lifeKey] != tag {
		tl.Problem("backing session %s holds %q, want %q", lifeKey, bs.Sessions[lifeKey], tag)
	}
	if len(bs.Temp) > 0 {
		tl.Problem("temp files left: %v", bs.Temp)
	}
}

func lifeUmountBusy(t *testing.T, tl *campaign.Tally) {
	m := mounttest.Start(t, mounttest.Options{})
	lifeSession(t, m, "busy")
	holder := exec.Command("bash", "-c", `exec 3<"$F"; echo open; exec sleep 120`)
	holder.Env = append(os.Environ(), "F="+m.File(lifeKey))
	out, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "open\n" {
		t.Fatalf("the file holder did not open %s: %q", lifeKey, line)
	}
	res, err := campaign.Run(cmdTimeout, nil, nil, m.Binary, "umount", m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	tl.Operations.Add(1)
	if res.Code == 0 || !strings.Contains(strings.ToLower(res.Stderr), "busy") {
		tl.Problem("umount with an open file: exit %d, stderr %q; want a failure saying busy", res.Code, res.Stderr)
	}
	if b, err := os.ReadFile(m.File(lifeKey)); err != nil || !strings.Contains(string(b), "busy") {
		tl.Problem("the mount stopped serving after a refused umount: %v", err)
	}
	res, err = campaign.Run(cmdTimeout, nil, nil, m.Binary, "umount", "--lazy", m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	tl.Operations.Add(1)
	if res.Code != 0 {
		tl.Problem("umount --lazy with an open file: exit %d: %s", res.Code, res.Stderr)
	}
	holder.Process.Kill()
	holder.Wait()
	if err := m.Wait(t, time.Minute); err != nil {
		tl.Problem("mount process after umount --lazy: %v", err)
	}
	if mounttest.IsMounted(m.Dir) {
		tl.Problem("still mounted after umount --lazy")
	}
	wantSaved(t, tl, m, "busy")
}

func lifeRemountAfterKill(t *testing.T, tl *campaign.Tally) {
	m := mounttest.Start(t, mounttest.Options{})
	lifeSession(t, m, "before-kill")
	m.Kill(t)
	if _, err := os.Stat(m.File(lifeKey)); !errors.Is(err, syscall.ENOTCONN) {
		tl.Problem("stat through a killed mount: %v, want ENOTCONN", err)
	}
	m.Restart(t, "--force")
	tl.Operations.Add(1)
	b, err := os.ReadFile(m.File(lifeKey))
	if tag, terr := campaign.DocTag(b); err != nil || terr != nil || tag != "before-kill" {
		tl.Problem("cat after mount --force: %q %v %v", tag, err, terr)
	}
	lifeSession(t, m, "after-kill")
	wantSaved(t, tl, m, "after-kill")
}

func lifeBackingRemoved(t *testing.T, tl *campaign.Tally) {
	m := mounttest.Start(t, mounttest.Options{})
	lifeSession(t, m, "removed")
	if err := os.RemoveAll(m.Backing); err != nil {
		t.Fatal(err)
	}
	_, err := os.ReadFile(m.File(lifeKey))
	if msg := wantErrno("cat with the backing directory gone", err, syscall.ENOENT); msg != "" {
		tl.Problem("%s", msg)
	}
	err = writeThrough(m.File("newsession1234"), []byte(`{"a": 1}`), os.O_CREATE|os.O_EXCL)
	if msg := wantErrno("create with the backing directory gone", err, syscall.ENOENT); msg != "" {
		tl.Problem("%s", msg)
	}
	if _, err := os.ReadDir(m.Dir); err != nil && !errors.Is(err, syscall.ENOENT) {
		tl.Problem("ls with the backing directory gone: %v, want an empty listing or ENOENT", err)
	}
	// The operator puts the directory back: the mount serves it again.
	if err := os.Mkdir(m.Backing, 0o700); err != nil {
		t.Fatal(err)
	}
	lifeSession(t, m, "recreated")
	wantSaved(t, tl, m, "recreated")
	tl.Operations.Add(4)
}

func lifeBackingReadOnly(t *testing.T, tl *campaign.Tally) {
	m := mounttest.Start(t, mounttest.Options{})
	lifeSession(t, m, "read-only")
	if out, err := exec.Command("mount", "--bind", "-o", "ro", m.Backing, m.Backing).CombinedOutput(); err != nil {
		lifeMissing(t, "a read-only bind mount (root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", m.Backing).Run() })
	before, err := campaign.Snapshot(m.Backing)
	if err != nil {
		t.Fatal(err)
	}
	err = writeThrough(m.File(lifeKey), campaign.Doc("lost?", 5), os.O_TRUNC)
	if msg := wantErrno("save into a read-only backing directory", err, syscall.EROFS); msg != "" {
		tl.Problem("%s", msg)
	}
	err = os.Remove(m.File(lifeKey))
	if msg := wantErrno("rm in a read-only backing directory", err, syscall.EROFS); msg != "" {
		tl.Problem("%s", msg)
	}
	after, _ := campaign.Snapshot(m.Backing)
	if d := campaign.SnapshotDiff(before, after); d != "" {
		tl.Problem("read-only backing directory changed: %s", d)
	}
	if out, err := exec.Command("umount", m.Backing).CombinedOutput(); err != nil {
		t.Fatalf("umount of the read-only bind: %v: %s", err, out)
	}
	wantSaved(t, tl, m, "read-only")
	tl.Operations.Add(2)
}

func lifeDiskFull(t *testing.T, tl *campaign.Tally) {
	backing := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", backing).CombinedOutput(); err != nil {
		lifeMissing(t, "a tmpfs mount (root): %v: %s", err, out)
	}
	// Registered before the FUSE mount's cleanup, so it runs after it.
	t.Cleanup(func() { exec.Command("umount", "-l", backing).Run() })
	m := mounttest.Start(t, mounttest.Options{Backing: backing})
	lifeSession(t, m, "fits")
	filler := filepath.Join(backing, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break // ENOSPC: the disk is full
		}
	}
	f.Close()
	err = writeThrough(m.File(lifeKey), campaign.Doc("does-not-fit", 3000), os.O_TRUNC)
	if msg := wantErrno("save on a full disk", err, syscall.ENOSPC); msg != "" {
		tl.Problem("%s", msg)
	}
	os.Remove(filler)
	wantSaved(t, tl, m, "fits")
	lifeSession(t, m, "after-space-freed")
	wantSaved(t, tl, m, "after-space-freed")
	tl.Operations.Add(3)
}

// lifeMissing skips (fails under CI=true) when the machine cannot do
// what a step needs.
func lifeMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing prerequisite (CI=true, not skipping): "+format, args...)
	}
	t.Skipf("missing prerequisite: %s", fmt.Sprintf(format, args...))
}
