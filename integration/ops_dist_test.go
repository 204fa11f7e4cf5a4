package integration

// The systemd unit in dist/ passes systemd-analyze verify.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/harness"
)

func TestOpsSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		harness.Missing(t, "systemd-analyze (Debian package systemd): %v", err)
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(root, "dist", "sessionfs@.service"))
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart's binary and Documentation's man page
	// exist: point them at the test binary and a freshly generated page.
	tmp := t.TempDir()
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/sessionfs", harness.Binary(t))
	if err := os.WriteFile(filepath.Join(tmp, "sessionfs@site.service"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	man := runBinary(t, nil, nil, "generate", "man")
	if man.code != 0 {
		t.Fatalf("generate man: %s", man.stderr)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "man", "man1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "man", "man1", "sessionfs.1"), []byte(man.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", filepath.Join(tmp, "sessionfs@site.service"))
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(tmp, "man"))
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, forbidden := range []string{"DJANGO_SECRET_KEY=", "PrivateTmp=", "ProtectSystem="} {
		for _, line := range strings.Split(string(unit), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), forbidden) {
				t.Errorf("the unit sets %s", line)
			}
		}
	}
}
