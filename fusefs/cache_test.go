package fusefs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestCachedSessionsStayCorrect: with a (deliberately long) cache timeout,
// the names the kernel keeps must not serve stale or wrong content after
// the renames editors do, and content is always read afresh.
func TestCachedSessionsStayCorrect(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Unix(1700000000, 0))
	mnt := mountFake(t, st, Options{CacheTimeout: time.Minute, ReadDirPlus: true})
	path := filepath.Join(mnt, keyA+".json")
	readDirNames(t, mnt) // readdirplus: the kernel now caches the entry
	if _, err := os.ReadFile(path); err != nil {
		t.Fatal(err)
	}

	// sed -i: a scratch file renamed over the cached name.
	tmp := filepath.Join(mnt, "sedTmp123")
	os.WriteFile(tmp, []byte(`{"a":2}`), 0o600)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	want, _ := fakeRender([]byte(`{"a":2}`))
	if got, err := os.ReadFile(path); err != nil || string(got) != string(want) {
		t.Errorf("cat right after a rename commit: %q %v, want %q", got, err, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != int64(len(want)) {
		t.Errorf("stat right after a rename commit: %v %v", fi, err)
	}

	// A change in the store: content is fresh at the next open.
	st.put(keyA, `{"a":3,"b":4}`, time.Unix(1700000000, 0))
	want, _ = fakeRender([]byte(`{"a":3,"b":4}`))
	if got, err := os.ReadFile(path); err != nil || string(got) != string(want) {
		t.Errorf("cat after a store change: %q %v, want %q", got, err, want)
	}

	// vim's backup rename, new file, unlink backup.
	if err := os.Rename(path, path+"~"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("stat of the renamed-away name: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"a":5}`), 0o600); err != nil {
		t.Fatalf("write after backup rename: %v", err)
	}
	os.Remove(path + "~")
	want, _ = fakeRender([]byte(`{"a":5}`))
	if got, err := os.ReadFile(path); err != nil || string(got) != string(want) {
		t.Errorf("cat after the vim flow: %q %v, want %q", got, err, want)
	}
	if st.get(keyA) != `{"a":5}` {
		t.Errorf("store: %s", st.get(keyA))
	}

	// rm, then a new session under the same name appears at once.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("stat after rm: %v", err)
	}
	st.put(keyA, `{"a":6}`, time.Now())
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a session created behind the mount is not visible at once: %v", err)
	}
	// An open writer's size is never cached.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n\n\n")
	var sb syscall.Stat_t
	rendered, _ := fakeRender([]byte(`{"a":6}`))
	if err := syscall.Stat(path, &sb); err != nil || sb.Size != int64(len(rendered)+3) {
		t.Errorf("size while appending: %d %v, want %d", sb.Size, err, len(rendered)+3)
	}
	if err := f.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}
