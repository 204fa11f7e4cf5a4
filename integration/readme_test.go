package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/harness"
)

// readmeWalkthrough returns the shell lines of the README's worked example,
// the fenced block between the walkthrough markers.
func readmeWalkthrough(t *testing.T) []string {
	t.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "<!-- walkthrough -->")
	end := strings.Index(text, "<!-- /walkthrough -->")
	if start < 0 || end < start {
		t.Fatal("README.md has no <!-- walkthrough --> block")
	}
	var lines []string
	for _, line := range strings.Split(text[start:end], "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "<!--") || strings.HasPrefix(line, "```") {
			continue
		}
		lines = append(lines, line)
	}
	return lines
}

// TestReadmeWalkthrough runs the README's worked example line by line against
// a real mount, with Django 3.2 on the same backing directory, and checks
// after each line what the README says happens.
func TestReadmeWalkthrough(t *testing.T) {
	requireTool(t, "vim")
	m, dj := mountWithDjango(t)
	const original = `{"theme": "dark", "_auth_user_id": "42", "cart": [1, 2, 3]}`
	key := djangoCreate(t, m, dj, original)[0]

	wantTheme := func(theme string) func(t *testing.T, stdout, stderr string) {
		return func(t *testing.T, stdout, stderr string) {
			wantDjangoData(t, m, dj, key, strings.Replace(original, `"dark"`, `"`+theme+`"`, 1))
		}
	}
	checks := []struct {
		prefix string
		check  func(t *testing.T, stdout, stderr string)
	}{
		{`cd `, nil},
		{`ls -l`, func(t *testing.T, stdout, stderr string) {
			size := len(pretty(t, original))
			if !strings.Contains(stdout, "-rw------- ") || !strings.Contains(stdout, fmt.Sprintf(" %d ", size)) ||
				!strings.Contains(stdout, key+".json") {
				t.Errorf("ls -l shows %q, want %s.json, mode -rw-------, size %d", stdout, key, size)
			}
		}},
		{`cat `, func(t *testing.T, stdout, stderr string) {
			if want := pretty(t, original); stdout != want {
				t.Errorf("cat shows %q, want %q", stdout, want)
			}
		}},
		{`sed -i `, wantTheme("light")},
		{`vim `, wantTheme("blue")},
		{`echo `, func(t *testing.T, stdout, stderr string) {
			if !strings.Contains(stderr, "Invalid argument") {
				t.Errorf("cp of broken JSON: stderr %q, want Invalid argument", stderr)
			}
			wantTheme("blue")(t, stdout, stderr)
		}},
		{`cat `, func(t *testing.T, stdout, stderr string) {
			if want := pretty(t, strings.Replace(original, `"dark"`, `"blue"`, 1)); stdout != want {
				t.Errorf("cat shows %q, want %q", stdout, want)
			}
		}},
		{`rm `, func(t *testing.T, stdout, stderr string) {
			var res []harness.LoadResult
			dj.Call(t, m.Settings(), harness.OpLoad, []string{key}, &res)
			if len(res) != 1 || res[0].Existed || res[0].KeyKept {
				t.Errorf("after rm Django loads %+v, want no session", res)
			}
		}},
		{`ls -l`, func(t *testing.T, stdout, stderr string) {
			if strings.Contains(stdout, key) {
				t.Errorf("ls -l after rm still shows the session: %q", stdout)
			}
		}},
	}

	lines := readmeWalkthrough(t)
	if len(lines) != len(checks) {
		t.Fatalf("README walkthrough has %d lines, this test checks %d: keep them in step\n%s",
			len(lines), len(checks), strings.Join(lines, "\n"))
	}
	env := []string{"MNT=" + m.Dir, "KEY=" + key}
	for i, line := range lines {
		c := checks[i]
		if !strings.HasPrefix(line, c.prefix) {
			t.Fatalf("README walkthrough line %d is %q, this test expects it to start with %q", i+1, line, c.prefix)
		}
		// Each line runs in the mount, as after the block's `cd "$MNT"`.
		stdout, stderr, err := sh(t, `cd "$MNT" && `+line, env...)
		if err != nil {
			t.Fatalf("README line %q: %v\nstderr: %s", line, err, stderr)
		}
		if c.check != nil {
			c.check(t, stdout, stderr)
		}
	}
}
