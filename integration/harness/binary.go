package harness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary builds the sessionfs binary once per test process and returns its
// path. Build failures fail t.
//
// The binary lives at one fixed path per checkout ($TMPDIR/sessionfs-test-bin-<hash>/sessionfs)
// so that test runs leave no pile of binaries behind; each process builds to a
// temp name and renames it into place, which is atomic and leaves a binary
// another process is running untouched (it keeps its inode).
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() { binPath, binErr = build() })
	if binErr != nil {
		t.Fatalf("building sessionfs: %v", binErr)
	}
	return binPath
}

func build() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "sessionfs-test-bin-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("directory for the test binary: %w", err)
	}
	out := filepath.Join(dir, "sessionfs")
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, ".")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build in %s: %w\n%s", root, err, msg)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("installing the test binary: %w", err)
	}
	return out, nil
}

// ModuleRoot is the directory of the sessionfs go.mod, found with `go env
// GOMOD` from the working directory (go test runs in the package directory).
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		wd, _ := os.Getwd()
		return "", fmt.Errorf("not inside a Go module (cwd %s)", wd)
	}
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", gomod, err)
	}
	if !bytes.Contains(b, []byte("module github.com/sessionfs/sessionfs\n")) {
		return "", fmt.Errorf("%s is not sessionfs's go.mod", gomod)
	}
	return filepath.Dir(gomod), nil
}
