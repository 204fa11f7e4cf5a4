package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/harness"
)

// TestMountLostUpdateEIOAndAudit: an editor (Python here) that read a
// session and saves after Django changed it gets EIO from close(); the
// refusal is in the audit log with its reason; with --on-conflict=overwrite
// the same save goes through.
func TestMountLostUpdateEIOAndAudit(t *testing.T) {
	for _, mode := range []string{"refuse", "overwrite"} {
		t.Run(mode, func(t *testing.T) {
			auditLog := filepath.Join(t.TempDir(), "audit.log")
			m, dj := mountWithDjango(t, "--audit-log", auditLog, "--on-conflict", mode)
			key := djangoCreate(t, m, dj, `{"n": 1}`)[0]
			sync := t.TempDir()
			ready, goOn := filepath.Join(sync, "ready"), filepath.Join(sync, "go")
			editor := exec.Command(harness.SystemPython, "-c", `
import errno, os, sys, time
path, ready, go = sys.argv[1:]
with open(path) as f:
    f.read()
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.02)
try:
    with open(path, "w") as f:
        f.write('{"n": 100}\n')
    print("saved")
except OSError as e:
    print(errno.errorcode[e.errno])
`, m.File(key), ready, goOn)
			var out strings.Builder
			editor.Stdout, editor.Stderr = &out, &out
			if err := editor.Start(); err != nil {
				t.Fatal(err)
			}
			defer editor.Wait()
			waitForFile(t, ready, nil)
			var saved []harness.SaveResult
			dj.Call(t, m.Settings(), harness.OpSave, []harness.SaveItem{{Key: key, Data: json.RawMessage(`{"n": 2}`)}}, &saved)
			if len(saved) != 1 || !saved[0].OK {
				t.Fatalf("Django save: %+v", saved)
			}
			if err := os.WriteFile(goOn, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := editor.Wait(); err != nil {
				t.Fatalf("editor: %v: %s", err, out.String())
			}
			got := strings.TrimSpace(out.String())
			if mode == "overwrite" {
				if got != "saved" {
					t.Fatalf("with --on-conflict=overwrite the editor's save: %q", got)
				}
				wantDjangoData(t, m, dj, key, `{"n": 100}`)
				return
			}
			if got != "EIO" {
				t.Fatalf("the editor's close after Django's change: %q, want EIO", got)
			}
			wantDjangoData(t, m, dj, key, `{"n": 2}`)
			log, err := os.ReadFile(auditLog)
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
				var rec struct{ Op, Key, Reason, Comm string }
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("audit line %q: %v", line, err)
				}
				if rec.Op == "rejected-write" && rec.Key == key && strings.Contains(rec.Reason, "changed") {
					found = true
				}
			}
			if !found {
				t.Errorf("no rejected-write record with the reason in the audit log:\n%s", log)
			}
		})
	}
}
