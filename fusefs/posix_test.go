package fusefs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// TestScratchPosix runs go-fuse's POSIX checks on the scratch area: every
// name those tests use is a scratch name, which must behave like a tmpfs.
// posixtest's ReadDirBasic wants the root to hold only its files; the root
// of every mount also holds the views, so TestScratchReadDirBasic makes the
// same check with them.
func TestScratchPosix(t *testing.T) {
	for _, name := range []string{
		"AppendWrite", "DirectIO", "FdLeak", "FileBasic", "ParallelFileOpen",
		"ReadDirConsistency",
		"SymlinkReadlink", "TruncateFile", "TruncateNoFile",
	} {
		fn := posixtest.All[name]
		if fn == nil {
			t.Fatalf("posixtest has no test %q", name)
		}
		t.Run(name, func(t *testing.T) {
			fn(t, mountFake(t, newFakeStore(), Options{}))
		})
	}
}

// TestScratchReadDirBasic is posixtest's ReadDirBasic on a mount's root:
// after each of 110 creates (40-byte names, so the listing overflows a
// 4096-byte page) a listing holds exactly the files created and the views.
func TestScratchReadDirBasic(t *testing.T) {
	mnt := mountFake(t, newFakeStore(), Options{})
	want := map[string]bool{}
	for _, v := range withViews() {
		want[v] = true
	}
	for i := 0; i < 110; i++ {
		nm := fmt.Sprintf("file%036x", i)
		want[nm] = true
		if err := os.WriteFile(filepath.Join(mnt, nm), []byte("hello"), 0o644); err != nil {
			t.Fatalf("WriteFile %q: %v", nm, err)
		}
		f, err := os.Open(mnt)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			t.Fatalf("ReadDir: %v", err)
		}
		got := map[string]bool{}
		for _, e := range names {
			if got[e] {
				t.Errorf("entry %q listed twice", e)
			}
			got[e] = true
		}
		if len(got) != len(want) {
			t.Errorf("mismatch got %d want %d", len(got), len(want))
		}
		for k := range got {
			if !want[k] {
				t.Errorf("got extra entry %q", k)
			}
		}
		for k := range want {
			if !got[k] {
				t.Errorf("missing entry %q", k)
			}
		}
	}
}
