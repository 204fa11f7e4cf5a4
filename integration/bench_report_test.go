package integration

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
)

// benchRows are the row labels of integration/bench's table: the file
// backend's, then the database and cache backends'.
var benchRows = []string{"1a", "1b", "2a", "2b", "3", "3b", "4", "4b", "5a", "5b", "5c", "5d", "5e", "5f", "6a", "6b", "6c", "6d", "7a", "7b", "7c", "7d", "8a", "8b", "9a", "9b", "9c", "9d",
	"db1", "db1b", "db2", "db3", "db4", "db5", "db6", "sqlite1", "sqlite1b", "sqlite2", "cache1", "cache2", "cache2b", "cache3", "cache4"}

// A row's sessionfs time, its comparison's time and their ratio.
var benchRowRE = regexp.MustCompile(`^(\S+)\s.*?\s(\d+\.\d+ (?:µs|ms|s))\s.*?\s(\d+\.\d+ (?:µs|ms|s))\s+(\d+\.\d+)× (?:faster|slower)\s`)

// TestBenchReport runs the benchmark program at its smallest scale and
// checks that the table has every row with times and a ratio. It does not
// check the targets: this machine's load would make that flaky.
func TestBenchReport(t *testing.T) {
	mounttest.Require(t)
	harness.RequireDjango(t, "3.2")
	bin := harness.Binary(t)
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "./integration/bench", "-scale", "tiny", "-rounds", "1", "-bin", bin}
	if os.Geteuid() != 0 { // the per-section file systems need mount(8)
		t.Log("not root: the bench runs with -fs dir")
		args = append(args, "-fs", "dir")
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	found := map[string]string{}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if m := benchRowRE.FindStringSubmatch(line); m != nil {
			found[m[1]] = line
		}
	}
	for _, id := range benchRows {
		if _, ok := found[id]; !ok {
			t.Errorf("row %s missing or without times and ratio", id)
		}
	}
	for _, want := range []string{"command: go run ./integration/bench", "Django 3.2.", "GOMAXPROCS=", "kernel "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("footer lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("table:\n%s", stdout.String())
	}
}
