package integration

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
)

// cliQuiet runs `sessionfs CMD --session-file-path dir ARGS...` without t,
// for goroutines: the exit code, stderr and an error if it could not run.
func cliQuiet(bin, dir string, stdin []byte, cmd string, args ...string) (int, string, error) {
	c := exec.Command(bin, append([]string{cmd, "--session-file-path", dir}, args...)...)
	c.Env = []string{"PATH=" + os.Getenv("PATH"), "DJANGO_SECRET_KEY=" + storeSecret}
	c.Stdin = bytes.NewReader(stdin)
	var errOut bytes.Buffer
	c.Stderr = &errOut
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), errOut.String(), nil
	}
	return 0, errOut.String(), err
}

// TestStoreGCRacingPutKeepMtime: a gc loop beside four loops of puts that
// keep an hour-old mtime. A save's temp file must never look stale to gc: every
// put succeeds, and every session ends with its mtime and last content.
func TestStoreGCRacingPutKeepMtime(t *testing.T) {
	dir := t.TempDir()
	bin := harness.Binary(t)
	keys := []string{"gcracekey0001", "gcracekey0002", "gcracekey0003", "gcracekey0004"}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, k := range keys {
		mustCLI(t, dir, []byte(`{"n": 0}`), "put", "--create", k)
		setMtime(t, filepath.Join(dir, "sessionid"+k), old)
	}
	const duration = 8 * time.Second
	deadline := time.Now().Add(duration)
	var (
		wg                  sync.WaitGroup
		puts, gcs, failures atomic.Int64
		mu                  sync.Mutex
		samples             []string
		last                = make([]int, len(keys))
	)
	fail := func(format string, args ...any) {
		failures.Add(1)
		mu.Lock()
		if len(samples) < 5 {
			samples = append(samples, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	wg.Go(func() {
		for time.Now().Before(deadline) {
			if code, stderr, err := cliQuiet(bin, dir, nil, "gc"); err != nil || code != 0 {
				fail("gc: exit %d %v: %s", code, err, stderr)
			}
			gcs.Add(1)
		}
	})
	for i, k := range keys {
		wg.Go(func() {
			for n := 1; time.Now().Before(deadline); n++ {
				code, stderr, err := cliQuiet(bin, dir, fmt.Appendf(nil, `{"n": %d}`, n), "put", "--keep-mtime", k)
				puts.Add(1)
				if err != nil || code != 0 {
					fail("put --keep-mtime %s: exit %d %v: %s", k, code, err, stderr)
					continue
				}
				last[i] = n
			}
		})
	}
	wg.Wait()
	t.Logf("%d puts --keep-mtime beside %d gc runs in %v", puts.Load(), gcs.Load(), duration)
	if failures.Load() > 0 {
		t.Errorf("%d of %d commands failed, e.g.:\n%s", failures.Load(), puts.Load()+gcs.Load(), strings.Join(samples, "\n"))
	}
	if puts.Load() < 20 || gcs.Load() < 5 {
		t.Errorf("too little happened to race: %d puts, %d gc runs", puts.Load(), gcs.Load())
	}
	st := openStore(t, dir)
	for i, k := range keys {
		sess, err := st.Load(t.Context(), k)
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		if want := fmt.Sprintf(`{"n":%d}`, last[i]); string(sess.JSON) != want || !sess.ModTime.Equal(old) {
			t.Errorf("%s: %s with mtime %v, want %s with mtime %v", k, sess.JSON, sess.ModTime, want, old)
		}
	}
	for name := range fileNames(t, dir) {
		if strings.Contains(name, "_out_") {
			t.Errorf("temp file left behind: %s", name)
		}
	}
}

// incompressibleSession is a session of n bytes that zlib barely shrinks:
// one string of random printable ASCII (6.5 bits a character), so its
// encoded file, base64, is about 9% larger than the JSON.
func incompressibleSession(n int) []byte {
	const chars = " !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~"
	r := rand.New(rand.NewChaCha8([32]byte{6}))
	js := append(make([]byte, 0, n), `{"blob": "`...)
	for len(js) < n-2 {
		js = append(js, chars[r.IntN(len(chars))])
	}
	return append(js, `"}`...)
}

// TestStorePutTooLargeToReadBack: 15 MiB of JSON that zlib cannot shrink
// encodes to more than the 16 MiB a session file may have. put refuses it
// (exit 3), saying both sizes, and neither the session nor the directory
// changes; show still shows the old session.
func TestStorePutTooLargeToReadBack(t *testing.T) {
	dir := t.TempDir()
	const key = "toolargetoread01"
	mustCLI(t, dir, []byte(`{"small": true}`), "put", "--create", key)
	before := snapshotDir(t, dir)

	js := incompressibleSession(15 << 20)
	for _, args := range [][]string{{key}, {"--keep-mtime", key}, {"--create", "toolargenewkey01"}} {
		res := runCLI(t, dir, js, "put", args...)
		if res.code != 3 || !regexp.MustCompile(`encoded session is 1[78]\d{6} bytes, over the 16777216-byte limit`).MatchString(res.stderr) {
			t.Errorf("put %v of 15 MiB incompressible JSON: exit %d, stderr %q; want 3 and both sizes", args, res.code, res.stderr)
		}
	}
	if after := snapshotDir(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a refused put changed the directory:\nbefore %v\nafter  %v", before, after)
	}
	if out := mustCLI(t, dir, nil, "show", key); !strings.Contains(out, `"small": true`) {
		t.Errorf("show after the refused put: %q", out)
	}
}
