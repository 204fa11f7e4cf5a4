package fusefs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/sessionfs/sessionfs/store"
)

const (
	keyA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	keyC = "cccccccccccccccccccccccccccccccc"
)

// mountFake mounts a fake store in-process (syscalls only in tests that use
// it: exec'ing tools from the serving process can deadlock).
func mountFake(t *testing.T, st *fakeStore, opt Options) string {
	t.Helper()
	return mountStore(t, st, opt)
}

func mountStore(t *testing.T, st store.Store, opt Options) string {
	t.Helper()
	return mountWith(t, st, opt, fakeRender)
}

// mountWith mounts st in-process; render, when not nil, replaces
// codec.Pretty. The unmount is a cleanup: a test that leaks an open file
// fails there.
func mountWith(t *testing.T, st store.Store, opt Options, render func([]byte) ([]byte, error)) string {
	t.Helper()
	mnt, _ := mountRoot(t, st, opt, render)
	return mnt
}

// mountRoot is mountWith, also returning the mount's root node.
func mountRoot(t *testing.T, st store.Store, opt Options, render func([]byte) ([]byte, error)) (string, *rootDir) {
	t.Helper()
	return mountRootPrep(t, st, opt, render, nil)
}

// mountRootPrep is mountRoot; prep, when not nil, changes the root before
// the mount serves anything.
func mountRootPrep(t *testing.T, st store.Store, opt Options, render func([]byte) ([]byte, error), prep func(*rootDir)) (string, *rootDir) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no FUSE: %v", err)
		}
		t.Skipf("no FUSE: %v", err)
	}
	mnt := t.TempDir()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	root := NewRoot(st, opt).(*rootDir)
	if render != nil {
		root.render = render
	}
	if prep != nil {
		prep(root)
	}
	srv, err := fs.Mount(mnt, root, FSOptions(opt))
	if err != nil {
		t.Fatalf("mount %s: %v", mnt, err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount %s: %v (a test leaked an open file?)", mnt, err)
		}
	})
	return mnt, root
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func wantErrno(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func readDirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("readdir: %v", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestListStatAndCat(t *testing.T) {
	st := newFakeStore()
	mtime := time.Unix(1700000000, 0)
	st.put(keyA, `{"a":1,"b":[true,null]}`, mtime)
	st.put(keyB, `{}`, mtime)
	mnt := mountFake(t, st, Options{})

	if got, want := readDirNames(t, mnt), withViews(keyA+".json", keyB+".json"); !equalStrings(got, want) {
		t.Fatalf("ls: got %v, want %v", got, want)
	}
	path := filepath.Join(mnt, keyA+".json")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cat: %v", err)
	}
	want, _ := fakeRender([]byte(`{"a":1,"b":[true,null]}`))
	if string(got) != string(want) {
		t.Fatalf("cat: got %q, want %q", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(want)) || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(mtime) {
		t.Errorf("stat: size %d mode %v mtime %v; want %d, 0600, %v", fi.Size(), fi.Mode(), fi.ModTime(), len(want), mtime)
	}
	if fi.Sys().(*syscall.Stat_t).Uid != uint32(os.Getuid()) {
		t.Errorf("owner %d, want %d", fi.Sys().(*syscall.Stat_t).Uid, os.Getuid())
	}
	root, _ := os.Stat(mnt)
	if root.Mode().Perm() != 0o700 {
		t.Errorf("root mode %v, want 0700", root.Mode())
	}
	_, err = os.Stat(filepath.Join(mnt, keyC+".json"))
	wantErrno(t, "stat missing", err, syscall.ENOENT)

	// A change in the store shows at the next open and stat: no stale cache.
	st.put(keyA, `{"a":2}`, mtime)
	got, _ = os.ReadFile(path)
	want, _ = fakeRender([]byte(`{"a":2}`))
	if string(got) != string(want) {
		t.Errorf("cat after store change: got %q, want %q", got, want)
	}
	fi, _ = os.Stat(path)
	if fi.Size() != int64(len(want)) {
		t.Errorf("size after store change: %d, want %d", fi.Size(), len(want))
	}
}

// withViews is a root listing: names, and the hidden views every mount has.
func withViews(names ...string) []string {
	return append([]string{viewByUser, viewExpired, viewInvalid, viewStats}, names...)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWriteCommitsAtCloseKeepingMtime(t *testing.T) {
	st := newFakeStore()
	mtime := time.Unix(1700000000, 0)
	st.put(keyA, `{"a":1}`, mtime)
	mnt := mountFake(t, st, Options{})
	path := filepath.Join(mnt, keyA+".json")

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	doc := "{\n  \"a\": 5,\n  \"z\": \"x\"\n}\n"
	if _, err := f.WriteString(doc); err != nil {
		t.Fatal(err)
	}
	// While open, the size is the buffer's, not the stored session's.
	if fi, err := f.Stat(); err != nil || fi.Size() != int64(len(doc)) {
		t.Errorf("fstat while writing: %v size %d, want %d", err, fi.Size(), len(doc))
	}
	if got := st.get(keyA); got != `{"a":1}` {
		t.Errorf("committed before close: %s", got)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := st.get(keyA); got != `{"a":5,"z":"x"}` {
		t.Errorf("after close: store has %s", got)
	}
	fi, _ := os.Stat(path)
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("mtime moved: %v, want %v", fi.ModTime(), mtime)
	}
}

func TestInvalidContentFailsCloseAndChangesNothing(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"invalid JSON", `{"a":`},
		{"array", `[1,2]`},
		{"non-UTF-8", "{\"a\":\"\xff\"}"},
		{"empty", ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newFakeStore()
			st.put(keyA, `{"a":1}`, time.Unix(1700000000, 0))
			mnt := mountFake(t, st, Options{})
			path := filepath.Join(mnt, keyA+".json")
			before, _ := os.ReadFile(path)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(tc.content); err != nil {
				t.Fatal(err)
			}
			wantErrno(t, "close", f.Close(), syscall.EINVAL)
			if got := st.get(keyA); got != `{"a":1}` {
				t.Errorf("store changed: %s", got)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(before) {
				t.Errorf("next cat shows %q, want the old %q", after, before)
			}
		})
	}
}

func TestDupFlushCommitsOnlyWrites(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	mnt := mountFake(t, st, Options{})
	f, err := os.OpenFile(filepath.Join(mnt, keyA+".json"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	dup, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Close(dup); err != nil { // a FLUSH with nothing written
		t.Fatalf("close of dup before any write: %v", err)
	}
	if st.saves != 0 {
		t.Errorf("flush without writes saved")
	}
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(`{"b":2}`), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := st.get(keyA); got != `{"b":2}` || st.saves != 1 {
		t.Errorf("store %s after %d saves, want {\"b\":2} after 1", got, st.saves)
	}
}

func TestAppend(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	mnt := mountFake(t, st, Options{})
	path := filepath.Join(mnt, keyA+".json")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\n\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close after appending whitespace: %v", err)
	}
	f, _ = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"x":1}`)
	wantErrno(t, "close after appending a second object", f.Close(), syscall.EINVAL)
	if got := st.get(keyA); got != `{"a":1}` {
		t.Errorf("store %s", got)
	}
}

func TestCreateSession(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	mnt := mountFake(t, st, Options{})

	path := filepath.Join(mnt, keyB+".json")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("stat of a session being created: %v", err)
	}
	f.WriteString(`{"new":true}`)
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := st.get(keyB); got != `{"new":true}` {
		t.Errorf("created session: %q", got)
	}

	_, err = os.OpenFile(filepath.Join(mnt, keyA+".json"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	wantErrno(t, "O_EXCL on an existing session", err, syscall.EEXIST)
	for _, bad := range []string{"UPPERCASEKEY12345.json", "short.json", "has-dash-123456.json"} {
		_, err = os.Create(filepath.Join(mnt, bad))
		wantErrno(t, "create "+bad, err, syscall.EINVAL)
	}

	// A create closed without a write leaves no session and no name.
	f, err = os.Create(filepath.Join(mnt, keyC+".json"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := os.Stat(filepath.Join(mnt, keyC+".json")); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("empty create: stat %v, want ENOENT", err)
	}
	if _, err := st.Stat(context.Background(), keyC); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("empty create made a session: %v", err)
	}
}

func TestUnlinkAndReKey(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	st.put(keyB, `{"b":1}`, time.Now())
	mnt := mountFake(t, st, Options{})
	if err := os.Rename(filepath.Join(mnt, keyA+".json"), filepath.Join(mnt, keyC+".json")); err != nil {
		t.Fatalf("re-key: %v", err)
	}
	if st.get(keyA) != "" || st.get(keyC) != `{"a":1}` {
		t.Errorf("after re-key: a=%q c=%q", st.get(keyA), st.get(keyC))
	}
	err := os.Rename(filepath.Join(mnt, keyC+".json"), filepath.Join(mnt, keyB+".json"))
	wantErrno(t, "re-key onto a taken key", err, syscall.EEXIST)
	if err := os.Remove(filepath.Join(mnt, keyB+".json")); err != nil {
		t.Fatalf("rm: %v", err)
	}
	if st.get(keyB) != "" {
		t.Errorf("rm left the session")
	}
	err = os.Remove(filepath.Join(mnt, keyB+".json"))
	wantErrno(t, "rm again", err, syscall.ENOENT)
}

// TestSedFlow: a temp file in the directory renamed over the session.
func TestSedFlow(t *testing.T) {
	st := newFakeStore()
	mtime := time.Unix(1700000000, 0)
	st.put(keyA, `{"a":1}`, mtime)
	mnt := mountFake(t, st, Options{})
	tmp := filepath.Join(mnt, "sedX1y2z3")
	if err := os.WriteFile(tmp, []byte(`{"a":2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		t.Errorf("chmod of a scratch file: %v", err)
	}
	if got := st.get(keyA); got != `{"a":1}` {
		t.Errorf("scratch write reached the store: %s", got)
	}
	if err := os.Rename(tmp, filepath.Join(mnt, keyA+".json")); err != nil {
		t.Fatalf("rename onto the session: %v", err)
	}
	if got := st.get(keyA); got != `{"a":2}` {
		t.Errorf("store after rename: %s", got)
	}
	if fi, _ := os.Stat(filepath.Join(mnt, keyA+".json")); !fi.ModTime().Equal(mtime) {
		t.Errorf("mtime moved to %v", fi.ModTime())
	}
	if names := readDirNames(t, mnt); !equalStrings(names, withViews(keyA+".json")) {
		t.Errorf("ls after rename: %v", names)
	}
	// Invalid content: rename fails, both names stay as they were.
	os.WriteFile(tmp, []byte(`not json`), 0o600)
	wantErrno(t, "rename of invalid content", os.Rename(tmp, filepath.Join(mnt, keyA+".json")), syscall.EINVAL)
	if got := st.get(keyA); got != `{"a":2}` {
		t.Errorf("store after rejected rename: %s", got)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("rejected temp file vanished: %v", err)
	}
}

// TestBackupRenameFlow: vim's write by rename. The backing session is never
// absent: it stays while its name is hidden behind the backup.
func TestBackupRenameFlow(t *testing.T) {
	st := newFakeStore()
	mtime := time.Unix(1700000000, 0)
	st.put(keyA, `{"a":1}`, mtime)
	mnt := mountFake(t, st, Options{})
	path := filepath.Join(mnt, keyA+".json")
	backup := path + "~"
	if err := os.Rename(path, backup); err != nil {
		t.Fatalf("backup rename: %v", err)
	}
	if st.get(keyA) != `{"a":1}` {
		t.Fatalf("backup rename removed the session from the store")
	}
	if _, err := os.Stat(path); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("stat of the renamed name: %v, want ENOENT", err)
	}
	b, _ := os.ReadFile(backup)
	want, _ := fakeRender([]byte(`{"a":1}`))
	if string(b) != string(want) {
		t.Errorf("backup content %q", b)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatalf("create after backup rename: %v", err)
	}
	f.WriteString(`{"a":3}`)
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := st.get(keyA); got != `{"a":3}` {
		t.Errorf("store: %s", got)
	}
	if fi, _ := os.Stat(path); !fi.ModTime().Equal(mtime) {
		t.Errorf("mtime moved to %v", fi.ModTime())
	}
	if err := os.Remove(backup); err != nil {
		t.Fatalf("rm backup: %v", err)
	}
	if got := st.get(keyA); got != `{"a":3}` {
		t.Errorf("removing the backup touched the session: %q", got)
	}

	// Failed write: the editor renames the backup back; nothing is saved.
	os.Rename(path, backup)
	f, _ = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	f.WriteString(`[broken`)
	wantErrno(t, "close of invalid content", f.Close(), syscall.EINVAL)
	saves := st.saves
	if err := os.Rename(backup, path); err != nil {
		t.Fatalf("restoring the backup: %v", err)
	}
	if st.saves != saves || st.get(keyA) != `{"a":3}` {
		t.Errorf("restoring an unchanged backup saved: %d saves, %s", st.saves-saves, st.get(keyA))
	}
	if names := readDirNames(t, mnt); !equalStrings(names, withViews(keyA+".json")) {
		t.Errorf("ls: %v", names)
	}
}

func TestRefusedOperations(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	mnt := mountFake(t, st, Options{})
	path := filepath.Join(mnt, keyA+".json")
	wantErrno(t, "mkdir", os.Mkdir(filepath.Join(mnt, "d"), 0o700), syscall.EPERM)
	wantErrno(t, "link", os.Link(path, filepath.Join(mnt, "hard")), syscall.EPERM)
	wantErrno(t, "symlink as a session", os.Symlink("x", filepath.Join(mnt, keyB+".json")), syscall.EPERM)
	wantErrno(t, "mknod", syscall.Mknod(filepath.Join(mnt, "fifo"), syscall.S_IFIFO|0o600, 0), syscall.EPERM)
	err := syscall.Setxattr(path, "user.x", []byte("1"), 0)
	if !errors.Is(err, syscall.ENOTSUP) && !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("setxattr: %v, want ENOTSUP", err)
	}
	// emacs's lock symlink is a scratch file.
	lock := filepath.Join(mnt, ".#"+keyA+".json")
	if err := os.Symlink("user@host.1234:1700000000", lock); err != nil {
		t.Fatalf("lock symlink: %v", err)
	}
	if target, err := os.Readlink(lock); err != nil || target != "user@host.1234:1700000000" {
		t.Errorf("readlink: %q %v", target, err)
	}
	os.Remove(lock)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Errorf("chmod accepted as a no-op: %v", err)
	}
	if err := syscall.Truncate(path, 3); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("truncate without an open writer: %v, want EINVAL", err)
	}
	if got := st.get(keyA); got != `{"a":1}` {
		t.Errorf("store changed: %s", got)
	}
}

func TestTouchRenewsMtime(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Unix(1700000000, 0))
	mnt := mountFake(t, st, Options{})
	now := time.Unix(1800000000, 0)
	if err := os.Chtimes(filepath.Join(mnt, keyA+".json"), now, now); err != nil {
		t.Fatal(err)
	}
	sess, _ := st.Load(context.Background(), keyA)
	if !sess.ModTime.Equal(now) {
		t.Errorf("store mtime %v, want %v", sess.ModTime, now)
	}
}

func TestReadOnly(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	mnt := mountFake(t, st, Options{ReadOnly: true})
	path := filepath.Join(mnt, keyA+".json")
	if _, err := os.ReadFile(path); err != nil {
		t.Errorf("read: %v", err)
	}
	_, err := os.OpenFile(path, os.O_WRONLY, 0)
	wantErrno(t, "open for write", err, syscall.EROFS)
	wantErrno(t, "rm", os.Remove(path), syscall.EROFS)
	wantErrno(t, "create", os.WriteFile(filepath.Join(mnt, "x"), nil, 0o600), syscall.EROFS)
	wantErrno(t, "rename", os.Rename(path, filepath.Join(mnt, keyB+".json")), syscall.EROFS)
}

func TestScratchLimits(t *testing.T) {
	st := newFakeStore()
	mnt := mountFake(t, st, Options{ScratchMaxFiles: 2, ScratchMaxBytes: 10})
	if err := os.WriteFile(filepath.Join(mnt, "one"), []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "over the byte budget", os.WriteFile(filepath.Join(mnt, "two"), []byte("123456"), 0o600), syscall.ENOSPC)
	_, err := os.Create(filepath.Join(mnt, "three"))
	wantErrno(t, "over the file count", err, syscall.ENOSPC)
	os.Remove(filepath.Join(mnt, "two"))
	os.Remove(filepath.Join(mnt, "one"))
	if err := os.WriteFile(filepath.Join(mnt, "four"), []byte("1234567890"), 0o600); err != nil {
		t.Errorf("after freeing: %v", err)
	}
}

func TestSessionSizeLimit(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	mnt := mountFake(t, st, Options{MaxSessionSize: 100})
	f, err := os.OpenFile(filepath.Join(mnt, keyA+".json"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Write(make([]byte, 101))
	wantErrno(t, "write over the limit", err, syscall.EFBIG)
	f.Close()
	if got := st.get(keyA); got != `{"a":1}` {
		t.Errorf("store: %s", got)
	}
}

// panicStore panics in Stat, as a bug in a store would.
type panicStore struct{ *fakeStore }

func (panicStore) Stat(ctx context.Context, key string) (store.Meta, error) { panic("boom") }

// TestPanicBecomesEIO: the mount's options carry the panic handler, so a
// panic is answered with EIO and logged through the mount's logger, with
// its value and the stack that panicked.
func TestPanicBecomesEIO(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	logs, log := newLogBuffer(t)
	mnt := mountStore(t, panicStore{st}, Options{Logger: log})
	_, err := os.Stat(filepath.Join(mnt, keyA+".json"))
	wantErrno(t, "stat through a panicking store", err, syscall.EIO)
	_, err = os.Stat(filepath.Join(mnt, keyA+".json"))
	wantErrno(t, "stat again (the mount survived)", err, syscall.EIO)
	got := logs.String()
	for _, want := range []string{"panic in operation, reporting EIO", "panic=boom", "panicStore.Stat"} {
		if !strings.Contains(got, want) {
			t.Errorf("the mount's log lacks %q:\n%s", want, got)
		}
	}
}

func TestStatfsAndDirFsync(t *testing.T) {
	backing := t.TempDir()
	mnt := mountFake(t, newFakeStore(), Options{BackingDir: backing})
	var want, got syscall.Statfs_t
	if err := syscall.Statfs(backing, &want); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Statfs(mnt, &got); err != nil {
		t.Fatalf("statfs: %v", err)
	}
	if got.Blocks != want.Blocks || got.Bsize != want.Bsize {
		t.Errorf("statfs: %d blocks of %d, want the backing dir's %d of %d", got.Blocks, got.Bsize, want.Blocks, want.Bsize)
	}
	d, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Errorf("fsync of the directory: %v", err)
	}
}

// TestConcurrentStatDuringSaves: stat (Getattr walks the writers) while
// writers commit must neither deadlock nor race.
func TestConcurrentStatDuringSaves(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	mnt := mountFake(t, st, Options{})
	path := filepath.Join(mnt, keyA+".json")
	done := make(chan struct{})
	statErrs := make(chan error, 1)
	go func() {
		defer close(statErrs)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := os.Stat(path); err != nil {
				statErrs <- err
				return
			}
		}
	}()
	for i := 0; i < 200; i++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, `{"a":%d}`, i)
		if err := f.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
	close(done)
	if err := <-statErrs; err != nil {
		t.Errorf("stat during saves: %v", err)
	}
	if got := st.get(keyA); got != `{"a":199}` {
		t.Errorf("store: %s", got)
	}
}
