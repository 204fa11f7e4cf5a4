package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/harness"
)

// TestMountBadInput: each refused change gets its errno, the tool reports
// it, the backing directory is byte-for-byte unchanged, and the next cat
// shows the session as it was.
func TestMountBadInput(t *testing.T) {
	m, dj := mountWithDjango(t)
	key := djangoCreate(t, m, dj, baseSession)[0]
	tmp := t.TempDir()
	py := harness.SystemPython
	cases := []struct {
		name, script string
		wantErr      string // in the tool's stderr; "" = the tool cannot see the error
	}{
		{"invalid JSON", `printf '{"a":' > "$T/x"; cp "$T/x" "$F"`, "Invalid argument"},
		{"JSON array", py + ` -c 'import sys; f=open(sys.argv[1],"w"); f.write("[1, 2]"); f.close()' "$F"`, "Invalid argument"},
		{"non-UTF-8", `printf '{"a": "\xff"}' > "$T/x"; cp "$T/x" "$F"`, "Invalid argument"},
		{"over the size limit", py + ` -c 'import sys; f=open(sys.argv[1],"w"); f.write("{\"a\": \"" + "x"*(17<<20) + "\"}"); f.close()' "$F"`, "File too large"},
		{"invalid key name", `cp "$F" "$D/NotAValidKey.json"`, "Invalid argument"},
		{"too short a key", `cp "$F" "$D/abc.json"`, "Invalid argument"},
		{"mkdir", `mkdir "$D/sub"`, "Operation not permitted"},
		{"symlink under a session name", `ln -s "$F" "$D/abcdefgh12345678.json"`, "Operation not permitted"},
		{"hard link", `ln "$F" "$D/other"`, "Operation not permitted"},
		{"truncate to nothing", `truncate -s 0 "$F"`, "Invalid argument"},
		{"sed making an array", `sed -i 's/^{/[/' "$F"`, "Invalid argument"},
		{"mv of invalid content", `printf 'nope' > "$D/edit.tmp"; mv "$D/edit.tmp" "$F"`, "cannot move"}, // mv words EINVAL as "subdirectory of itself"
		// bash's > and >> ignore close() errors: the save is refused all
		// the same, but bash reports success. Documented in the README.
		{"bash > invalid", `printf 'oops' > "$F"`, ""},
		{"bash >> garbage", `printf 'garbage' >> "$F"`, ""},
	}
	want := pretty(t, baseSession)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := m.Snapshot(t)
			_, errOut, err := sh(t, tc.script, "F="+m.File(key), "D="+m.Dir, "T="+tmp)
			if tc.wantErr != "" {
				if err == nil {
					t.Errorf("%s succeeded, want a failure with %q", tc.script, tc.wantErr)
				}
				if !strings.Contains(errOut, tc.wantErr) {
					t.Errorf("stderr %q does not contain %q", errOut, tc.wantErr)
				}
			} else if err != nil {
				t.Errorf("%s: %v (bash was expected to ignore the close error)", tc.script, err)
			}
			if diff := before.Diff(m.Snapshot(t)); diff != "" {
				t.Errorf("backing directory changed: %s", diff)
			}
			if got, err := os.ReadFile(m.File(key)); err != nil || string(got) != want {
				t.Errorf("cat after the refused change: %q %v, want %q", got, err, want)
			}
		})
	}
	// Nothing was left behind in the mount but the scratch file of the failed mv.
	ents, _ := os.ReadDir(m.Dir)
	for _, e := range ents {
		if e.Name() != key+".json" && e.Name() != "edit.tmp" && !strings.HasPrefix(e.Name(), ".") { // the views
			t.Errorf("left in the mount: %s", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(m.Backing, "sessionidabcdefgh12345678")); !os.IsNotExist(err) {
		t.Errorf("refused symlink reached the backing directory: %v", err)
	}
	wantDjangoData(t, m, dj, key, baseSession)
}
