package fusefs

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVersionNodes: each version of a session is its own inode, whose size
// never changes. An unchanged session keeps its inode; a reader keeps its
// version's size and content, whole, while Django saves a version of
// another size (tail -c takes the size from the open file); the name leads
// to a new inode, and a new open reads the new version.
func TestVersionNodes(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"v": "`+strings.Repeat("a", 5000)+`"}`, time.Now())
	timeout := 10 * time.Millisecond
	mnt := mountWith(t, st, Options{CacheTimeout: timeout}, fakeRender)
	path := filepath.Join(mnt, keyA+".json")
	ino := func() uint64 {
		t.Helper()
		var sb syscall.Stat_t
		if err := syscall.Stat(path, &sb); err != nil {
			t.Fatal(err)
		}
		return sb.Ino
	}
	first := ino()
	time.Sleep(3 * timeout)
	if again := ino(); again != first {
		t.Errorf("an unchanged session changed inode: %d, then %d", first, again)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := readAll(t, f)
	st.put(keyA, `{"v": "b"}`, time.Now())
	time.Sleep(3 * timeout) // past every cache timeout: the kernel asks again
	fi, err := f.Stat()
	if err != nil || fi.Size() != int64(len(want)) {
		t.Errorf("the open file's size under its reader: %v %v, want %d", fi.Size(), err, len(want))
	}
	if got := readAll(t, f); got != want {
		t.Errorf("the reader's content changed: %.40q, want %.40q", got, want)
	}
	if second := ino(); second == first {
		t.Errorf("a new version kept inode %d", first)
	}
	if b, err := os.ReadFile(path); err != nil || !strings.Contains(string(b), `"b"`) {
		t.Errorf("a new open after the save read %.40q (%v)", b, err)
	}
}
