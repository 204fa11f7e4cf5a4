package filekind

import (
	"io/fs"
	"testing"
)

func TestName(t *testing.T) {
	for m, want := range map[fs.FileMode]string{
		fs.ModeDir | 0o755:                "a directory",
		fs.ModeNamedPipe:                  "a fifo",
		fs.ModeSocket:                     "a socket",
		fs.ModeDevice | fs.ModeCharDevice: "a device",
		fs.ModeSymlink:                    "a symlink",
		fs.ModeIrregular:                  "mode ?---------",
	} {
		if got := Name(m); got != want {
			t.Errorf("%v: %q, want %q", m, got, want)
		}
	}
}
