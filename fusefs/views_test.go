package fusefs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/filestore"
)

// Keys of the ops fixture.
const (
	keyU42a     = "u42aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyU42b     = "u42bbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	keyU7       = "u7aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyAnon     = "anonaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyOld      = "expiredaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyFallback = "fallbackaaaaaaaaaaaaaaaaaaaaaaaa"
	keyCorrupt  = "corruptaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyForged   = "forgedaaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyLink     = "symlinkaaaaaaaaaaaaaaaaaaaaaaaaa"
)

const corruptBytes = "not a django session at all"

// opsFixture is a real store over a backing directory holding every kind
// of file the views sort: logged-in users, an anonymous session, one
// expired by mtime, one signed with a fallback key, one corrupt, one signed
// with an unknown key, a planted symlink and a leftover temp file.
func opsFixture(t *testing.T) (*filestore.FileStore, string) {
	t.Helper()
	dir := t.TempDir()
	cd, err := codec.New(codec.Config{SecretKey: []byte("current-secret"), FallbackKeys: [][]byte{[]byte("old-secret")}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := filestore.New(filestore.Config{Dir: dir, Codec: cd, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for key, js := range map[string]string{
		keyU42a: `{"_auth_user_id":"42","cart":[1]}`,
		keyU42b: `{"_auth_user_id":"42"}`,
		keyU7:   `{"_auth_user_id":"7"}`,
		keyAnon: `{"theme":"dark"}`,
		keyOld:  `{"_auth_user_id":"42","old":true}`,
	} {
		if _, err := st.Save(ctx, key, []byte(js), store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	longAgo := time.Now().Add(-30 * 24 * time.Hour)
	os.Chtimes(filepath.Join(dir, "sessionid"+keyOld), longAgo, longAgo)

	encodeWith := func(secret string) []byte {
		c, err := codec.New(codec.Config{SecretKey: []byte(secret)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Encode([]byte(`{"_auth_user_id":"7","f":1}`), codec.EncodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("sessionid"+keyFallback, encodeWith("old-secret"))
	write("sessionid"+keyForged, encodeWith("someone-elses-secret"))
	write("sessionid"+keyCorrupt, []byte(corruptBytes))
	write("sessionid"+keyAnon+"_out_12345", []byte("half a save"))
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "sessionid"+keyLink)); err != nil {
		t.Fatal(err)
	}
	return st, dir
}

// mountReal mounts st in-process with the real rendering (codec.Pretty).
func mountReal(t *testing.T, st store.Store, opt Options) string {
	t.Helper()
	return mountWith(t, st, opt, nil)
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

func TestViewsListTheRightFiles(t *testing.T) {
	st, _ := opsFixture(t)
	mnt := mountReal(t, st, Options{})

	wantTop := []string{".by-user", ".expired", ".invalid", ".stats.json",
		keyAnon + ".json", keyFallback + ".json", keyU42a + ".json", keyU42b + ".json", keyU7 + ".json"}
	if got := readDirNames(t, mnt); !equalStrings(got, wantTop) {
		t.Errorf("ls -a: got %v, want %v", got, wantTop)
	}
	for dir, want := range map[string][]string{
		".by-user":    {"42", "7"},
		".by-user/42": {keyU42a + ".json", keyU42b + ".json"}, // the expired one is not live
		".by-user/7":  {keyFallback + ".json", keyU7 + ".json"},
		".expired":    {keyOld + ".json"},
		".invalid":    {keyCorrupt, keyForged}, // never the symlink
	} {
		if got := readDirNames(t, filepath.Join(mnt, dir)); !equalStrings(got, want) {
			t.Errorf("ls %s: got %v, want %v", dir, got, want)
		}
	}
	// A second listing is served from the store's metadata cache: same answer.
	if got := readDirNames(t, filepath.Join(mnt, ".by-user")); !equalStrings(got, []string{"42", "7"}) {
		t.Errorf("second ls .by-user: %v", got)
	}
	for _, name := range []string{keyOld + ".json", keyCorrupt + ".json", keyLink + ".json"} {
		if _, err := os.Stat(filepath.Join(mnt, name)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("stat %s at the top level: %v, want ENOENT", name, err)
		}
	}
	for _, path := range []string{".by-user/99", ".by-user/7/" + keyU42a + ".json", ".expired/" + keyU7 + ".json",
		".invalid/" + keyU7, ".invalid/" + keyLink} {
		if _, err := os.Stat(filepath.Join(mnt, path)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("stat %s: %v, want ENOENT", path, err)
		}
	}
}

func TestByUserIsTheSameSession(t *testing.T) {
	st, dir := opsFixture(t)
	mnt := mountReal(t, st, Options{})
	top := filepath.Join(mnt, keyU42a+".json")
	view := filepath.Join(mnt, ".by-user/42", keyU42a+".json")
	if a, b := mustRead(t, top), mustRead(t, view); a != b {
		t.Fatalf("view differs from top level:\n%s\n%s", a, b)
	}
	fi, err := os.Stat(view)
	if err != nil || fi.Size() != int64(len(mustRead(t, top))) {
		t.Errorf("stat in view: %v %v", fi, err)
	}
	// A write through the view is a save of the same session.
	if err := os.WriteFile(view, []byte(`{"_auth_user_id": "42", "cart": [1, 2]}`), 0o600); err != nil {
		t.Fatalf("write through .by-user: %v", err)
	}
	sess, err := st.Load(context.Background(), keyU42a)
	if err != nil || string(sess.JSON) != `{"_auth_user_id":"42","cart":[1,2]}` {
		t.Errorf("store after the write: %s %v", sess.JSON, err)
	}
	if got := mustRead(t, top); !strings.Contains(got, "2\n") {
		t.Errorf("top level after the write: %s", got)
	}

	// rm .by-user/42/* logs 42 out everywhere (the expired session is in
	// .expired, not here); then the directory can go.
	names := readDirNames(t, filepath.Join(mnt, ".by-user/42"))
	for _, n := range names {
		if err := os.Remove(filepath.Join(mnt, ".by-user/42", n)); err != nil {
			t.Errorf("rm .by-user/42/%s: %v", n, err)
		}
	}
	for _, key := range []string{keyU42a, keyU42b} {
		if _, err := os.Lstat(filepath.Join(dir, "sessionid"+key)); !os.IsNotExist(err) {
			t.Errorf("backing file of %s after rm: %v", key, err)
		}
		if _, err := os.Stat(filepath.Join(mnt, key+".json")); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("top level %s after rm: %v", key, err)
		}
	}
	if err := os.Remove(filepath.Join(mnt, ".by-user/42")); err != nil {
		t.Errorf("rmdir of the emptied user dir: %v", err)
	}
	if got := readDirNames(t, filepath.Join(mnt, ".by-user")); !equalStrings(got, []string{"7"}) {
		t.Errorf(".by-user after logging 42 out: %v", got)
	}
	// A user with sessions keeps the directory.
	wantErrno(t, "rmdir .by-user/7", os.Remove(filepath.Join(mnt, ".by-user/7")), syscall.ENOTEMPTY)
	// Nothing can be created in a view.
	err = os.WriteFile(filepath.Join(mnt, ".by-user/7", keyU42a+".json"), []byte(`{}`), 0o600)
	wantErrno(t, "create in .by-user/7", err, syscall.EPERM)
}

func TestExpiredAndInvalid(t *testing.T) {
	st, dir := opsFixture(t)
	mnt := mountReal(t, st, Options{XAttrs: true})
	exp := filepath.Join(mnt, ".expired", keyOld+".json")
	if got := mustRead(t, exp); !strings.Contains(got, `"old": true`) {
		t.Errorf("cat .expired file: %q", got)
	}
	_, err := os.OpenFile(exp, os.O_WRONLY, 0)
	wantErrno(t, "open .expired file for writing", err, syscall.EACCES)

	inv := filepath.Join(mnt, ".invalid", keyCorrupt)
	if got := mustRead(t, inv); got != corruptBytes {
		t.Errorf("cat .invalid file: %q, want the raw bytes", got)
	}
	if fi, err := os.Stat(inv); err != nil || fi.Size() != int64(len(corruptBytes)) || fi.Mode().Perm() != 0o400 {
		t.Errorf("stat .invalid file: %v %v", fi, err)
	}
	for _, key := range []string{keyCorrupt, keyForged} {
		_, decErr := st.Stat(context.Background(), key)
		if decErr == nil {
			t.Fatalf("fixture %s decodes", key)
		}
		want := store.Problem(decErr) + ": " + decErr.Error()
		if got := getxattr(t, filepath.Join(mnt, ".invalid", key), xattrError); got != want {
			t.Errorf("%s of %s: %q, want %q", xattrError, key, got, want)
		}
	}
	if got := getxattr(t, filepath.Join(mnt, ".invalid", keyForged), xattrError); !strings.HasPrefix(got, "bad-signature: ") {
		t.Errorf("%s of the forged file: %q", xattrError, got)
	}
	_, err = os.OpenFile(inv, os.O_WRONLY|os.O_TRUNC, 0)
	wantErrno(t, "open .invalid file for writing", err, syscall.EACCES)

	for _, path := range []string{exp, inv} {
		if err := os.Remove(path); err != nil {
			t.Errorf("rm %s: %v", path, err)
		}
	}
	for _, key := range []string{keyOld, keyCorrupt} {
		if _, err := os.Lstat(filepath.Join(dir, "sessionid"+key)); !os.IsNotExist(err) {
			t.Errorf("backing file of %s after rm: %v", key, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "sessionid"+keyLink)); err != nil {
		t.Errorf("the planted symlink must stay untouched: %v", err)
	}
}

// TestRmOversizedInvalid: a backing file over the store's read bound shows
// in .invalid, empty, and rm removes it.
func TestRmOversizedInvalid(t *testing.T) {
	st, dir := opsFixture(t)
	cfg := st.Config()
	cfg.MaxFileSize = 1024
	small, err := filestore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const key = "oversizedaaaaaaaaaaaaaaaaaaaaaaa"
	backing := filepath.Join(dir, "sessionid"+key)
	if err := os.WriteFile(backing, make([]byte, 2048), 0o600); err != nil {
		t.Fatal(err)
	}
	mnt := mountReal(t, small, Options{})
	inv := filepath.Join(mnt, ".invalid", key)
	if fi, err := os.Stat(inv); err != nil || fi.Size() != 0 {
		t.Fatalf("stat %s: %v %v, want an empty file", inv, fi, err)
	}
	if err := os.Remove(inv); err != nil {
		t.Fatalf("rm %s: %v", inv, err)
	}
	if _, err := os.Lstat(backing); !os.IsNotExist(err) {
		t.Errorf("backing file after rm: %v", err)
	}
}

func getxattr(t *testing.T, path, name string) string {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(path, name, buf)
	if err != nil {
		t.Errorf("getxattr %s %s: %v", path, name, err)
		return ""
	}
	return string(buf[:n])
}

func TestSessionXattrs(t *testing.T) {
	st, _ := opsFixture(t)
	mnt := mountReal(t, st, Options{XAttrs: true})
	path := filepath.Join(mnt, keyFallback+".json")
	meta, err := st.Stat(context.Background(), keyFallback)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		xattrUserID:  "7",
		xattrKey:     "fallback 1",
		xattrFormat:  "signed json sha256",
		xattrRawSize: strconvI(meta.RawSize),
		xattrExpires: meta.Expiry.UTC().Format(time.RFC3339),
	}
	for name, value := range want {
		if got := getxattr(t, path, name); got != value {
			t.Errorf("%s: got %q, want %q", name, got, value)
		}
	}
	buf := make([]byte, 1024)
	n, err := unix.Listxattr(path, buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00"); len(got) != len(want) {
		t.Errorf("listxattr: %v", got)
	}
	_, err = unix.Getxattr(filepath.Join(mnt, keyAnon+".json"), xattrUserID, buf)
	wantErrno(t, "user_id of an anonymous session", err, syscall.ENODATA)
	_, err = unix.Getxattr(path, "security.selinux", buf)
	wantErrno(t, "security.selinux", err, syscall.ENODATA)
	err = unix.Setxattr(path, "user.x", []byte("y"), 0)
	wantErrno(t, "setxattr", err, syscall.ENOTSUP)
}

func strconvI(n int64) string { return strconv.FormatInt(n, 10) }

func TestNoXattrsByDefault(t *testing.T) {
	st, _ := opsFixture(t)
	mnt := mountReal(t, st, Options{})
	buf := make([]byte, 64)
	for i := 0; i < 2; i++ {
		_, err := unix.Getxattr(filepath.Join(mnt, keyU7+".json"), xattrUserID, buf)
		wantErrno(t, "getxattr without --xattrs", err, syscall.EOPNOTSUPP)
	}
}

func TestStatsFile(t *testing.T) {
	st, _ := opsFixture(t)
	mnt := mountReal(t, st, Options{})
	mustRead(t, filepath.Join(mnt, keyU7+".json"))
	os.WriteFile(filepath.Join(mnt, keyU7+".json"), []byte(`[1]`), 0o600) // rejected
	if err := os.Remove(filepath.Join(mnt, keyAnon+".json")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(mnt, viewStats)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<16)
	n, _ := f.Read(buf)
	if int64(n) != fi.Size() {
		t.Errorf("fstat size %d, read %d bytes", fi.Size(), n)
	}
	var got store.Stats
	if err := json.Unmarshal(buf[:n], &got); err != nil {
		t.Fatalf(".stats.json: %v\n%s", err, buf[:n])
	}
	if got.Sessions != 4 || got.Expired != 1 || got.Invalid != 3 || got.Problems["not-regular"] != 1 || got.TempFiles != 1 ||
		got.LoggedInUsers != 2 || got.Keys["fallback 1"] != 1 || got.FallbackOnly() != 1 {
		t.Errorf(".stats.json figures: %s", buf[:n])
	}
	ops := got.Operations
	if ops == nil || ops.Reads != 1 || ops.RejectedWrites != 1 || ops.Deletes != 1 || ops.Writes != 0 {
		t.Errorf("operations: %+v", ops)
	}
	_, err = os.OpenFile(path, os.O_WRONLY, 0)
	wantErrno(t, "open .stats.json for writing", err, syscall.EACCES)
}

func TestViewsCannotBeChanged(t *testing.T) {
	st, _ := opsFixture(t)
	mnt := mountReal(t, st, Options{})
	p := func(name string) string { return filepath.Join(mnt, name) }
	wantErrno(t, "rm .stats.json", os.Remove(p(viewStats)), syscall.EPERM)
	wantErrno(t, "rmdir .by-user", syscall.Rmdir(p(viewByUser)), syscall.EPERM)
	wantErrno(t, "mv .expired", os.Rename(p(viewExpired), p("x")), syscall.EPERM)
	wantErrno(t, "mkdir .invalid", os.Mkdir(p(viewInvalid), 0o700), syscall.EEXIST)
	if err := os.WriteFile(p("scratch"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "mv scratch .stats.json", os.Rename(p("scratch"), p(viewStats)), syscall.EPERM)
	wantErrno(t, "mv session into a view", os.Rename(p(keyU7+".json"), p(".expired/"+keyU7+".json")), syscall.EXDEV)
	wantErrno(t, "mv out of a view", os.Rename(p(".by-user/7/"+keyU7+".json"), p(keyAnon+"x.json")), syscall.EPERM)
	wantErrno(t, "symlink .by-user", os.Symlink("x", p(viewByUser)), syscall.EEXIST)
	if _, err := os.Stat(p(keyU7 + ".json")); err != nil {
		t.Errorf("session after the refused moves: %v", err)
	}
}

func TestReadOnlyViews(t *testing.T) {
	st, _ := opsFixture(t)
	mnt := mountReal(t, st, Options{ReadOnly: true})
	wantErrno(t, "rm .expired file", os.Remove(filepath.Join(mnt, ".expired", keyOld+".json")), syscall.EROFS)
	wantErrno(t, "rm .by-user file", os.Remove(filepath.Join(mnt, ".by-user/7", keyU7+".json")), syscall.EROFS)
	if got := mustRead(t, filepath.Join(mnt, ".invalid", keyCorrupt)); got != corruptBytes {
		t.Errorf("read-only mount, .invalid: %q", got)
	}
}

// expiringStore is a backend whose expiry rule is its own: it says keyB
// has expired though its metadata carries no expiry.
type expiringStore struct{ *fakeStore }

func (s expiringStore) Expired(e store.Entry, now time.Time) bool {
	return e.Err == nil && (e.Key == keyB || e.Expired(now))
}

// TestExpiryIsTheBackendsRule: the top level, lookups, opens and the views
// all ask the store whether a session has expired, so a session is in
// exactly one of the top level and .expired.
func TestExpiryIsTheBackendsRule(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	st.put(keyB, `{"b":2}`, time.Now())
	mnt := mountStore(t, expiringStore{st}, Options{})
	if got, want := fmt.Sprint(readDirNames(t, mnt)), fmt.Sprint([]string{".by-user", ".expired", ".invalid", ".stats.json", keyA + ".json"}); got != want {
		t.Errorf("top level: got %s, want %s", got, want)
	}
	_, err := os.Stat(filepath.Join(mnt, keyB+".json"))
	wantErrno(t, "stat of the session the backend calls expired", err, syscall.ENOENT)
	if got, want := fmt.Sprint(readDirNames(t, filepath.Join(mnt, ".expired"))), fmt.Sprint([]string{keyB + ".json"}); got != want {
		t.Errorf(".expired: got %s, want %s", got, want)
	}
}
