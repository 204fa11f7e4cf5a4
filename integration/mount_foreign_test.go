package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
)

// fsTypeAt is the file system type of the last mount at dir in
// /proc/self/mountinfo, "" when dir is not a mount point.
func fsTypeAt(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	typ := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || strings.ReplaceAll(f[4], `\040`, " ") != dir {
			continue
		}
		for i := 5; i+1 < len(f); i++ {
			if f[i] == "-" {
				typ = f[i+1]
				break
			}
		}
	}
	return typ
}

// TestUmountLeavesForeignMounts: `sessionfs umount` (plain and --lazy) and
// `sessionfs mount` (with and without --force) act only on a sessionfs
// mount. A tmpfs and another FUSE file system at the mount point stay
// mounted, with a message saying what is there; a sessionfs mount, reached
// directly or through a symlink, is still unmounted.
func TestUmountLeavesForeignMounts(t *testing.T) {
	mounttest.Require(t)
	if os.Geteuid() != 0 {
		harness.Missing(t, "mounting a tmpfs needs root")
	}
	tmpfs := t.TempDir()
	if err := syscall.Mount("tmpfs", tmpfs, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Fatalf("mounting a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(tmpfs, syscall.MNT_DETACH) })
	marker := writeFile(t, tmpfs, "marker", []byte("still here"))

	otherfs := t.TempDir()
	srv, err := fs.Mount(otherfs, &fs.Inode{}, &fs.Options{MountOptions: fuse.MountOptions{Name: "otherfs", FsName: "otherfs-source"}})
	if err != nil {
		t.Fatalf("mounting another FUSE file system: %v", err)
	}
	t.Cleanup(func() { srv.Unmount() })

	backing := t.TempDir()
	env := []string{"DJANGO_SECRET_KEY=" + storeSecret, "SESSION_FILE_PATH=" + backing}
	for _, foreign := range []struct{ dir, fsType, source string }{
		{tmpfs, "tmpfs", "tmpfs"},
		{otherfs, "fuse.otherfs", "otherfs-source"},
	} {
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(foreign.dir, link); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"umount", foreign.dir},
			{"umount", "--lazy", foreign.dir},
			{"umount", link},
			{"mount", "--force", foreign.dir},
			{"mount", "--force", link},
			{"mount", foreign.dir},
		} {
			res := runTimed(t, env, nil, args...)
			want := foreign.dir + " is a mount point of " + foreign.fsType + " (source " + foreign.source + "), not of sessionfs"
			if res.Code != 1 || !strings.Contains(res.Stderr, want) {
				t.Errorf("sessionfs %q: exit %d, want 1 and %q: %s", args, res.Code, want, res.Stderr)
			}
			if got := fsTypeAt(t, foreign.dir); got != foreign.fsType {
				t.Fatalf("after sessionfs %q the mount at %s is %q, want %s still", args, foreign.dir, got, foreign.fsType)
			}
		}
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "still here" {
		t.Errorf("the tmpfs's file after the refusals: %q, %v", b, err)
	}

	// A sessionfs mount is unmounted, also through a symlink to it.
	m := mounttest.Start(t, mounttest.Options{})
	if got := fsTypeAt(t, m.Dir); got != "fuse.sessionfs" {
		t.Fatalf("the sessionfs mount's type is %q, want fuse.sessionfs", got)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(m.Dir, link); err != nil {
		t.Fatal(err)
	}
	if res := runTimed(t, nil, nil, "umount", link); res.Code != 0 {
		t.Fatalf("sessionfs umount of a sessionfs mount through a symlink: exit %d: %s", res.Code, res.Stderr)
	}
	if err := m.Wait(t, 15*time.Second); err != nil {
		t.Errorf("mount process after umount: %v", err)
	}
	if got := fsTypeAt(t, m.Dir); got != "" {
		t.Errorf("still mounted after umount: %s", got)
	}
}
