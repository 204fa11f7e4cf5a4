package fusefs

import (
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// TestScratchPosix runs go-fuse's POSIX checks on the scratch area: every
// name those tests use is a scratch name, which must behave like a tmpfs.
func TestScratchPosix(t *testing.T) {
	for _, name := range []string{
		"AppendWrite", "DirectIO", "FdLeak", "FileBasic", "ParallelFileOpen", "ReadDirBasic",
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
