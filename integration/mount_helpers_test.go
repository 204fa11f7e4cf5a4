package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
)

// mountWithDjango mounts a fresh backing directory and returns Django 3.2
// configured for the same directory and key.
func mountWithDjango(t *testing.T, args ...string) (*mounttest.Mount, *harness.Django) {
	t.Helper()
	dj := harness.RequireDjango(t, "3.2")
	return mounttest.Start(t, mounttest.Options{Args: args}), dj
}

// djangoCreate makes Django create sessions with data and returns their keys.
func djangoCreate(t *testing.T, m *mounttest.Mount, dj *harness.Django, data ...string) []string {
	t.Helper()
	req := make([]json.RawMessage, len(data))
	for i, d := range data {
		req[i] = json.RawMessage(d)
	}
	var keys []string
	dj.Call(t, m.Settings(), harness.OpCreate, req, &keys)
	return keys
}

// djangoLoad is Django's SessionStore(key).load() of the file backend.
func djangoLoad(t *testing.T, m *mounttest.Mount, dj *harness.Django, key string) harness.LoadResult {
	t.Helper()
	var res []harness.LoadResult
	dj.Call(t, m.Settings(), harness.OpLoad, []string{key}, &res)
	if len(res) != 1 || !res[0].OK {
		t.Fatalf("django load %s: %+v", key, res)
	}
	return res[0]
}

// wantDjangoData fails t unless Django loads key with the session want.
func wantDjangoData(t *testing.T, m *mounttest.Mount, dj *harness.Django, key, want string) {
	t.Helper()
	got := djangoLoad(t, m, dj, key)
	if !got.KeyKept || !got.Existed {
		t.Fatalf("django load %s: key kept %v, existed %v (session lost)", key, got.KeyKept, got.Existed)
	}
	same, diff, err := harness.SameSession(got.Data, []byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if !same {
		t.Errorf("django loads %s, want %s: %s", got.Data, want, diff)
	}
}

// pretty is what cat through the mount must print for session data.
func pretty(t *testing.T, data string) string {
	t.Helper()
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(data)); err != nil {
		t.Fatal(err)
	}
	p, err := codec.Pretty(compact.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

// sh runs a bash script with env vars set and returns stdout, stderr and
// the error of the run.
func sh(t *testing.T, script string, env ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "HOME="+t.TempDir()) // no user vimrc/emacs init
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// mustSh is sh that fails t on an error or on any output on stderr.
func mustSh(t *testing.T, script string, env ...string) string {
	t.Helper()
	out, errOut, err := sh(t, script, env...)
	if err != nil {
		t.Fatalf("%s: %v\nstderr: %s", script, err, errOut)
	}
	if strings.TrimSpace(errOut) != "" && !strings.Contains(script, "emacs") {
		t.Errorf("%s: unexpected stderr: %s", script, errOut)
	}
	return out
}

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		harness.Missing(t, "%s: %v", name, err)
	}
}
