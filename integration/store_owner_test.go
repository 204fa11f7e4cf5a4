package integration

// Ownership of the files sessionfs writes, against real Django 3.2 running
// as another user (nobody, as a site's www-data): whatever sessionfs saves
// (put, rekey, edits and creations through a mount, as root) Django can
// still read and rewrite; what a non-root sessionfs cannot save so, it
// refuses.

import (
	"bytes"
	"encoding/json"
	"errors"
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

// requireRootFor skips t unless the test runs as root (fails under CI=true).
func requireRootFor(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		harness.Missing(t, "root, to %s", why)
	}
}

// siteDir makes a backing directory owned by nobody (mode 0700) inside a
// directory nobody may traverse, as a site's SESSION_FILE_PATH is owned by
// its web server user.
func siteDir(t *testing.T) (top, backing string) {
	t.Helper()
	top, err := os.MkdirTemp("", "sessionfs-owner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	backing = filepath.Join(top, "sessions")
	if err := os.Mkdir(backing, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(backing, nobodyID, nobodyID); err != nil {
		t.Fatal(err)
	}
	return top, backing
}

// wantOwned fails t unless path is owned by uid:gid with mode perm.
func wantOwned(t *testing.T, what, path string, uid, gid uint32, perm os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != uid || st.Gid != gid || fi.Mode() != perm {
		t.Errorf("%s: %s is %d:%d %v, want %d:%d %v", what, filepath.Base(path), st.Uid, st.Gid, fi.Mode(), uid, gid, perm)
	}
}

// wantSiteOwned fails t unless path is nobody's, mode 0600, as Django made it.
func wantSiteOwned(t *testing.T, what, path string) {
	t.Helper()
	wantOwned(t, what, path, nobodyID, nobodyID, 0o600)
}

func TestOwnerKeptForDjangoAsAnotherUser(t *testing.T) {
	requireRootFor(t, "run Django as another user")
	dj := harness.RequireDjango(t, "3.2").As(nobodyID, nobodyID)
	_, backing := siteDir(t)
	m := mounttest.Start(t, mounttest.Options{Backing: backing})
	env := []string{"DJANGO_SECRET_KEY=" + m.SecretKey}
	cli := func(stdin []byte, args ...string) {
		t.Helper()
		argv := append([]string{args[0], "--session-file-path", backing}, args[1:]...)
		if res := runIn(t, "", env, stdin, argv...); res.code != 0 {
			t.Fatalf("sessionfs %v as root: exit %d: %s", args, res.code, res.stderr)
		}
	}
	// created makes Django (as nobody) create a session and checks that
	// its file is nobody's, mode 0600.
	created := func(t *testing.T) string {
		t.Helper()
		key := djangoCreate(t, m, dj, baseSession)[0]
		wantSiteOwned(t, "Django's own file", m.BackingFile(key))
		return key
	}
	const vim = `vim -es -u DEFAULTS -i NONE -c 'set backupskip=' `
	newFile := writeFile(t, t.TempDir(), "new.json", []byte(newSession))

	t.Run("put", func(t *testing.T) {
		key := created(t)
		cli([]byte(editedSession), "put", key)
		wantSiteOwned(t, "after put", m.BackingFile(key))
		wantDjangoData(t, m, dj, key, editedSession)
	})
	t.Run("put --keep-mtime", func(t *testing.T) {
		key := created(t)
		old := time.Now().Add(-time.Hour).Truncate(time.Second)
		setMtime(t, m.BackingFile(key), old)
		cli([]byte(editedSession), "put", "--keep-mtime", key)
		wantSiteOwned(t, "after put --keep-mtime", m.BackingFile(key))
		if fi, err := os.Stat(m.BackingFile(key)); err != nil || !fi.ModTime().Equal(old) {
			t.Errorf("mtime after put --keep-mtime: %v %v, want %v", fi.ModTime(), err, old)
		}
		wantDjangoData(t, m, dj, key, editedSession)
	})
	t.Run("put --create", func(t *testing.T) {
		const key = "createdbyroot0001"
		cli([]byte(newSession), "put", "--create", key)
		wantSiteOwned(t, "a session root created", m.BackingFile(key))
		wantDjangoData(t, m, dj, key, newSession)
	})
	t.Run("rekey from a fallback key", func(t *testing.T) {
		const key, oldSecret = "signedwitholdkey1", "the-previous-secret-key-0123456789"
		old := m.Settings()
		old.SecretKey = oldSecret
		var saved []harness.SaveResult
		dj.Call(t, old, harness.OpSave, []harness.SaveItem{{Key: key, Data: json.RawMessage(baseSession), MustCreate: true}}, &saved)
		if len(saved) != 1 || !saved[0].OK {
			t.Fatalf("Django save with the old key: %+v", saved)
		}
		wantSiteOwned(t, "Django's own file", m.BackingFile(key))
		fallbacks := writeFile(t, t.TempDir(), "fallbacks", []byte(oldSecret+"\n"))
		cli(nil, "rekey", "--secret-key-fallbacks-file", fallbacks)
		wantSiteOwned(t, "after rekey", m.BackingFile(key))
		wantDjangoData(t, m, dj, key, baseSession) // Django knows only the current key
	})
	for _, ed := range []struct{ name, tool, script, want string }{
		{"sed -i", "sed", `sed -i 's/"v": 1/"v": 2/' "$F"`, editedSession},
		{"cp", "cp", `cp "$NEW" "$F"`, newSession},
		{"cat >", "", `cat "$NEW" > "$F"`, newSession},
		{"vim", "vim", vim + `-c 'g/"tea",/d' -c wq "$F"`, shortSession},
		{"vim backupcopy=yes", "vim", vim + `-c 'set backupcopy=yes' -c '%s/"v": 1/"v": 2/' -c wq "$F"`, editedSession},
	} {
		t.Run("mount "+ed.name, func(t *testing.T) {
			if ed.tool != "" {
				requireTool(t, ed.tool)
			}
			key := created(t)
			mustSh(t, ed.script, "F="+m.File(key), "NEW="+newFile)
			wantSiteOwned(t, "after "+ed.name+" through the mount", m.BackingFile(key))
			wantDjangoData(t, m, dj, key, ed.want)
		})
	}
	t.Run("mount mv re-keys", func(t *testing.T) {
		key := created(t)
		const to = "rekeyedthroughmv1"
		mustSh(t, `mv "$A" "$B"`, "A="+m.File(key), "B="+m.File(to))
		wantSiteOwned(t, "the re-keyed session", m.BackingFile(to))
		wantDjangoData(t, m, dj, to, baseSession)
	})
	t.Run("mount create", func(t *testing.T) {
		const key = "createdthroughmnt"
		mustSh(t, `cp "$NEW" "$F"`, "F="+m.File(key), "NEW="+newFile)
		wantSiteOwned(t, "a session created through the mount", m.BackingFile(key))
		wantDjangoData(t, m, dj, key, newSession)
	})
}

// TestOwnerNotGivenAwayByOrdinaryUser: sessionfs run as nobody in a
// directory root owns (and lets anyone write) cannot give a new version of
// root's session file its owner, so it refuses the save and changes
// nothing; a session it creates is its own, as Django's save by nobody
// would make it.
func TestOwnerNotGivenAwayByOrdinaryUser(t *testing.T) {
	requireRootFor(t, "run sessionfs as another user")
	top, err := os.MkdirTemp("", "sessionfs-owner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	backing := filepath.Join(top, "sessions")
	for _, d := range []string{top, backing} {
		if err := os.Mkdir(d, 0o777); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(top, "sessionfs")
	mustCopy(t, harness.Binary(t), bin, 0o755)
	const key, newKey = "ownedbyroot00001", "createdbynobody1"
	mustCLI(t, backing, []byte(baseSession), "put", "--create", key)
	if err := os.Chmod(backing+"/sessionid"+key, 0o644); err != nil {
		t.Fatal(err)
	}
	wantOwned(t, "root's session", filepath.Join(backing, "sessionid"+key), 0, 0, 0o644)
	before := fileSum(filepath.Join(backing, "sessionid"+key))

	asNobody := func(stdin string, args ...string) cliResult {
		t.Helper()
		c := exec.Command(bin, append([]string{args[0], "--session-file-path", backing}, args[1:]...)...)
		c.Dir = top
		c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + top, "DJANGO_SECRET_KEY=" + storeSecret}
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyID, Gid: nobodyID, Groups: []uint32{}}}
		c.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		c.Stdout, c.Stderr = &out, &errOut
		err := c.Run()
		res := cliResult{stdout: out.String(), stderr: errOut.String()}
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			res.code = ee.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		return res
	}
	res := asNobody(editedSession, "put", key)
	if res.code != 1 || !strings.Contains(res.stderr, "keeping the owner (uid 0, gid 0)") || !strings.Contains(res.stderr, "operation not permitted") {
		t.Errorf("put over root's session as nobody: exit %d, stderr %q; want 1 and the owner it cannot keep", res.code, res.stderr)
	}
	if after := fileSum(filepath.Join(backing, "sessionid"+key)); after != before {
		t.Errorf("the refused put changed root's session")
	}
	wantOwned(t, "root's session after the refused put", filepath.Join(backing, "sessionid"+key), 0, 0, 0o644)
	if names := fileNames(t, backing); len(names) != 1 {
		t.Errorf("after the refused put the directory holds %v", names)
	}

	if res := asNobody(newSession, "put", "--create", newKey); res.code != 0 {
		t.Fatalf("put --create as nobody: exit %d: %s", res.code, res.stderr)
	}
	wantOwned(t, "nobody's new session", filepath.Join(backing, "sessionid"+newKey), nobodyID, nobodyID, 0o600)
	if got := asNobody("", "show", newKey); got.code != 0 || !strings.Contains(got.stdout, `"theme": "dark"`) {
		t.Errorf("show of nobody's new session as nobody: exit %d %q %s", got.code, got.stdout, got.stderr)
	}
}
