package integration

// The man page and the bash completion script come from the CLI definition.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/harness"
)

func TestOpsManPage(t *testing.T) {
	res := runBinary(t, nil, nil, "generate", "man")
	if res.code != 0 {
		t.Fatalf("generate man: exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{".TH sessionfs 1", "revoke", "rekey", "stats", "--older-than", "--audit-log"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
	if man, err := exec.LookPath("man"); err == nil {
		page := filepath.Join(t.TempDir(), "sessionfs.1")
		if err := os.WriteFile(page, []byte(res.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(man, "-l", "-P", "cat", page).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "rekey") {
			t.Errorf("man -l cannot render the page: %v\n%.500s", err, out)
		}
	}
}

func TestOpsBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		harness.Missing(t, "bash: %v", err)
	}
	res := runBinary(t, nil, nil, "generate", "bash-completion")
	if res.code != 0 {
		t.Fatalf("generate bash-completion: exit %d: %s", res.code, res.stderr)
	}
	script := filepath.Join(t.TempDir(), "sessionfs")
	if err := os.WriteFile(script, []byte(res.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) []string {
		t.Helper()
		// COMP_WORDS as bash sets them when TAB is pressed after the last word.
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		prog := `source "$1"; COMP_WORDS=("$2" ` + strings.Join(quoted, " ") + `); COMP_CWORD=` +
			strconv.Itoa(len(words)) + `; _sessionfs; printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command(bash, "-c", prog, "bash", script, harness.Binary(t)).CombinedOutput()
		if err != nil {
			t.Fatalf("bash completion of %v: %v\n%s", words, err, out)
		}
		return strings.Fields(string(out))
	}
	if got := complete("re"); strings.Join(got, " ") != "revoke rekey" {
		t.Errorf("sessionfs re<TAB>: %v, want revoke rekey", got)
	}
	if got := complete("ls", "--so"); strings.Join(got, " ") != "--sort" {
		t.Errorf("sessionfs ls --so<TAB>: %v, want --sort", got)
	}
}
