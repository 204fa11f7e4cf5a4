package fusefs

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPageCacheServesOnlyTheLoadedVersion: with a cache timeout, a reader
// goes through the kernel's page cache and keeps the pages while the
// backing file is the same version, but every change of the backing file
// (a new inode, as every Django save makes) shows at the next open, whether
// or not the kernel's cached size still matches.
func TestPageCacheServesOnlyTheLoadedVersion(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Unix(1700000000, 0))
	mnt := mountFake(t, st, Options{CacheTimeout: time.Minute, ReadDirPlus: true})
	path := filepath.Join(mnt, keyA+".json")
	render := func(js string) string {
		b, _ := fakeRender([]byte(js))
		return string(b)
	}
	cat := func(step, want string) {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s: cat = %q, %v; want %q", step, got, err, want)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	cat("first cat", render(`{"a":1}`))
	cat("second cat", render(`{"a":1}`))

	// The mechanism at work: a change that keeps inode, size and mtime
	// (no Django save does that) is not seen, the kept pages are served.
	st.rewriteInPlace(keyA, `{"a":9}`)
	cat("in-place rewrite, kept pages", render(`{"a":1}`))

	// A save of the same size: a new inode. The kernel's cached size still
	// matches, the content must not be the cached one.
	st.put(keyA, `{"a":2}`, time.Unix(1700000000, 0))
	cat("same-size save", render(`{"a":2}`))
	if _, err := os.Stat(path); err != nil { // the kernel learns the new version
		t.Fatal(err)
	}
	cat("same-size save, after stat", render(`{"a":2}`))
	time.Sleep(attrSettle + 100*time.Millisecond)
	cat("same-size save, settled", render(`{"a":2}`))
	cat("same-size save, settled, again", render(`{"a":2}`))

	// A longer session while the kernel caches the shorter size: the read
	// must not stop at the old size.
	st.put(keyA, `{"a":3,"bb":[1,2,3],"cc":"longer"}`, time.Unix(1700000000, 0))
	cat("longer save", render(`{"a":3,"bb":[1,2,3],"cc":"longer"}`))
	st.put(keyA, `{"a":4}`, time.Unix(1700000000, 0))
	cat("shorter save", render(`{"a":4}`))

	// A reader open across a save keeps what it opened; the next open
	// sees the save.
	time.Sleep(attrSettle + 100*time.Millisecond)
	os.Stat(path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st.put(keyA, `{"a":5}`, time.Unix(1700000000, 0))
	cat("open across a save, new open", render(`{"a":5}`))
	buf := make([]byte, 100)
	n, _ := f.Read(buf)
	if got := string(buf[:n]); got != render(`{"a":4}`) {
		t.Errorf("reader opened before the save read %q, want %q", got, render(`{"a":4}`))
	}
}

// TestPageCacheOffWithZeroTimeout: --cache-timeout 0 is the strict mode,
// every read goes to the mount (direct I/O), even an in-place rewrite shows.
func TestPageCacheOffWithZeroTimeout(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Unix(1700000000, 0))
	mnt := mountFake(t, st, Options{})
	path := filepath.Join(mnt, keyA+".json")
	for i := 0; i < 2; i++ {
		if _, err := os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	st.rewriteInPlace(keyA, `{"a":9}`)
	want, _ := fakeRender([]byte(`{"a":9}`))
	if got, err := os.ReadFile(path); err != nil || string(got) != string(want) {
		t.Errorf("cat = %q, %v; want %q", got, err, want)
	}
}
