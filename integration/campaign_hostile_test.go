package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/campaign"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
	"github.com/sessionfs/sessionfs/store"
)

// hostileEnv is what every hostile case works on: a live mount with one
// session (key) Django created, and the campaign's tally.
type hostileEnv struct {
	t   *testing.T
	tl  *campaign.Tally
	m   *mounttest.Mount
	dj  *harness.Django
	key string
	tmp string
}

// hostileCase is one row of the table: plant (optional) prepares the
// backing directory, run does the hostile thing and returns "" or what went
// wrong; unless changes is set, the backing directory must be exactly as
// it was after plant.
type hostileCase struct {
	name    string
	plant   func(e *hostileEnv)
	run     func(e *hostileEnv) string
	changes bool
}

// memLimit bounds the mount process's peak resident set over the whole table.
const memLimit = 300 << 20

// TestCampaignHostile: hostile names, contents,
// backing-directory plants and codec inputs. Each gets its error, the
// backing directory does not change where nothing should, the mount keeps
// serving, its memory stays bounded, and nothing hangs.
func TestCampaignHostile(t *testing.T) {
	dj := harness.RequireDjango(t, "3.2")
	tl := campaign.Start(t, "hostile")
	m := mounttest.Start(t, mounttest.Options{})
	e := &hostileEnv{t: t, tl: tl, m: m, dj: dj, key: djangoCreate(t, m, dj, baseSession)[0], tmp: t.TempDir()}
	pid, err := campaign.MountPID(m.Binary, m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cases := slices.Concat(hostileNames(), hostileContents(), hostilePlants(), hostileCodec(),
		hostileStore(), hostileCLI())
	if len(cases) < 40 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	want := pretty(t, baseSession)
	for _, c := range cases {
		runHostileCase(t, e, c, c.name, pid, want, memLimit)
	}
	hwm, _ := campaign.VmHWM(pid)
	t.Logf("%d hostile cases; mount peak RSS %d MiB", len(cases), hwm>>20)
}

// runHostileCase runs case c of a table as subtest name, and checks what
// every case must leave as it was: the backing directory (unless c changes
// it), the mount serving e.key as want, and the mount's peak resident set
// under limit. Nothing may hang.
func runHostileCase(t *testing.T, e *hostileEnv, c hostileCase, name string, pid int, want string, limit int64) {
	m, tl := e.m, e.tl
	t.Run(name, func(t *testing.T) {
		e.t = t
		tl.Faults.Add(1)
		tl.Operations.Add(1)
		if c.plant != nil {
			c.plant(e)
		}
		before, err := campaign.Snapshot(m.Backing)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan string, 1)
		go func() { done <- c.run(e) }()
		select {
		case msg := <-done:
			if msg != "" {
				tl.Problem("%s: %s", c.name, msg)
			}
		case <-time.After(cmdTimeout):
			tl.Problem("%s: hung for %v", c.name, cmdTimeout)
			return
		}
		tl.Checked.Add(1)
		after, err := campaign.Snapshot(m.Backing)
		if err != nil {
			t.Fatal(err)
		}
		if d := campaign.SnapshotDiff(before, after); d != "" && !c.changes {
			tl.Problem("%s changed the backing directory: %s", c.name, d)
		}
		if got, err := os.ReadFile(m.File(e.key)); err != nil || string(got) != want {
			tl.Problem("after %s the mount no longer serves %s as it was: %v %.100q", c.name, e.key, err, got)
			// Put it back, so one finding does not fail every later case.
			if err := writeThrough(m.File(e.key), []byte(baseSession), os.O_TRUNC); err != nil {
				t.Fatalf("restoring %s: %v", e.key, err)
			}
		}
		hwm, err := campaign.VmHWM(pid)
		if err != nil || hwm > limit {
			tl.Problem("after %s the mount's peak memory is %d MiB (%v), limit %d MiB", c.name, hwm>>20, err, limit>>20)
		}
		t.Logf("mount peak RSS after %s: %d MiB", c.name, hwm>>20)
	})
}

// writeThrough writes data to path through the mount as one open, writes of
// 1 MiB and close, and returns the first error (close's is what counts).
func writeThrough(path string, data []byte, flag int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|flag, 0o600)
	if err != nil {
		return err
	}
	for len(data) > 0 {
		n := min(len(data), 1<<20)
		if _, err := f.Write(data[:n]); err != nil {
			f.Close()
			return err
		}
		data = data[n:]
	}
	return f.Close()
}

// wantErrno is "" when err carries errno, else a description.
func wantErrno(what string, err error, errnos ...syscall.Errno) string {
	for _, want := range errnos {
		if errors.Is(err, want) {
			return ""
		}
	}
	return fmt.Sprintf("%s: got %v, want %v", what, err, errnos)
}

// createCase creates name through the mount with a valid session and wants errno.
func createCase(label, name string, errnos ...syscall.Errno) hostileCase {
	return hostileCase{name: label, run: func(e *hostileEnv) string {
		return wantErrno("create "+name, writeThrough(filepath.Join(e.m.Dir, name), []byte(`{"a": 1}`), os.O_CREATE|os.O_TRUNC), errnos...)
	}}
}

func hostileNames() []hostileCase {
	return []hostileCase{
		createCase("name-upper-case", "ABCDEFGH1.json", syscall.EINVAL),
		createCase("name-cyrillic-a", "\u0430bcdefgh1.json", syscall.EINVAL),
		createCase("name-fullwidth", "ａｂｃｄｅｆｇｈ.json", syscall.EINVAL),
		createCase("name-short-key", "abc.json", syscall.EINVAL),
		createCase("name-temp-infix", "abcdefgh_out_1.json", syscall.EINVAL),
		createCase("name-space", "abcd efgh.json", syscall.EINVAL),
		createCase("name-key-too-long-for-temp-file", strings.Repeat("a", 232)+".json", syscall.EINVAL),
		createCase("name-over-255", strings.Repeat("b", 300)+".json", syscall.EINVAL),
		createCase("name-over-fuse-limit", strings.Repeat("c", 1100)+".json", syscall.ENAMETOOLONG, syscall.EINVAL),
		{name: "name-dotdot-key-is-scratch", run: func(e *hostileEnv) string {
			// "...json" (key "..") is a dot file: an editor's scratch entry, never a backing file.
			p := filepath.Join(e.m.Dir, "...json")
			if err := writeThrough(p, []byte(`{}`), os.O_CREATE|os.O_TRUNC); err != nil {
				return fmt.Sprintf("scratch ...json: %v", err)
			}
			if err := os.Remove(p); err != nil {
				return fmt.Sprintf("rm ...json: %v", err)
			}
			return ""
		}},
		{name: "rename-out-of-the-mount", run: func(e *hostileEnv) string {
			return wantErrno("rename to ../x.json", os.Rename(e.m.File(e.key), filepath.Join(e.m.Dir, "..", "x.json")), syscall.EXDEV)
		}},
		{name: "rename-to-invalid-key", run: func(e *hostileEnv) string {
			return wantErrno("rename to ABCDEFGH.json", os.Rename(e.m.File(e.key), filepath.Join(e.m.Dir, "ABCDEFGH.json")), syscall.EINVAL)
		}},
		{name: "longest-valid-key", changes: true, run: func(e *hostileEnv) string {
			key := strings.Repeat("k", 231)
			if err := writeThrough(e.m.File(key), []byte(`{"long": true}`), os.O_CREATE|os.O_EXCL); err != nil {
				return fmt.Sprintf("create a 231-character key: %v", err)
			}
			if err := os.Remove(e.m.File(key)); err != nil {
				return fmt.Sprintf("rm the 231-character key: %v", err)
			}
			return ""
		}},
		{name: "store-api-nul-in-key", run: func(e *hostileEnv) string {
			st := campaignStore(e.t, e.m.Backing, e.m.SecretKey)
			for _, k := range []string{"abcdefgh\x00", "\x00../../etc/passwd", e.key + "\x00x"} {
				if _, err := st.Load(context.Background(), k); !errors.Is(err, store.ErrInvalidKey) {
					return fmt.Sprintf("store Load(%q): %v, want ErrInvalidKey", k, err)
				}
			}
			return ""
		}},
		cliKeyCase("cli-show-path-traversal", 5, "show", "../../etc/shadow"),
		cliKeyCase("cli-rm-path-traversal", 5, "rm", "abcdefgh/../"+"x"),
		cliKeyCase("cli-put-path-traversal", 5, "put", "../escape12345"),
		cliKeyCase("cli-show-upper-case", 5, "show", "ABCDEFGH"),
		cliKeyCase("cli-put-cyrillic", 5, "put", "\u0430bcdefgh"),
		cliKeyCase("cli-rm-empty-key", 5, "rm", ""),
		cliKeyCase("cli-show-overlong", 5, "show", strings.Repeat("a", 5000)),
	}
}

// cliKeyCase runs a CLI command with a hostile key argument and wants exit code.
func cliKeyCase(label string, code int, args ...string) hostileCase {
	return hostileCase{name: label, run: func(e *hostileEnv) string {
		res := sfs(e.t, e.tl, e.m.Backing, e.m.SecretKey, []byte(`{"a":1}`), args...)
		if res.Code != code {
			return fmt.Sprintf("sessionfs %.60q: exit %d, want %d: %s", args, res.Code, code, res.Stderr)
		}
		if _, err := os.Lstat(filepath.Join(filepath.Dir(e.m.Backing), "escape12345")); err == nil {
			return "a file was created outside the backing directory"
		}
		return ""
	}}
}

// contentCase saves content over the existing session through the mount and
// wants errno (at write or close).
func contentCase(label string, content func() []byte, errno syscall.Errno) hostileCase {
	return hostileCase{name: label, run: func(e *hostileEnv) string {
		return wantErrno("save", writeThrough(e.m.File(e.key), content(), os.O_TRUNC), errno)
	}}
}

func fixed(s string) func() []byte { return func() []byte { return []byte(s) } }

func nestedJSON(depth int, open, close string) func() []byte {
	return func() []byte {
		return []byte(`{"a": ` + strings.Repeat(open, depth) + "1" + strings.Repeat(close, depth) + "}")
	}
}

func hostileContents() []hostileCase {
	return []hostileCase{
		contentCase("content-invalid-json", fixed(`{"a": `), syscall.EINVAL),
		contentCase("content-array", fixed(`[1, 2]`), syscall.EINVAL),
		contentCase("content-string", fixed(`"session"`), syscall.EINVAL),
		contentCase("content-null", fixed(`null`), syscall.EINVAL),
		contentCase("content-empty", fixed(``), syscall.EINVAL),
		contentCase("content-nesting-100000-arrays", nestedJSON(100000, "[", "]"), syscall.EINVAL),
		contentCase("content-nesting-100000-objects", nestedJSON(100000, `{"a": `, "}"), syscall.EINVAL),
		contentCase("content-invalid-utf8-value", fixed("{\"a\": \"\xff\xfe\"}"), syscall.EINVAL),
		contentCase("content-invalid-utf8-key", fixed("{\"\xc0\xaf\": 1}"), syscall.EINVAL),
		contentCase("content-duplicate-keys", fixed(`{"a": 1, "a": 2}`), syscall.EINVAL),
		contentCase("content-1e400", fixed(`{"a": 1e400}`), syscall.EINVAL),
		contentCase("content-nan", fixed(`{"a": NaN}`), syscall.EINVAL),
		contentCase("content-bom", fixed("\ufeff{\"a\": 1}"), syscall.EINVAL),
		contentCase("content-trailing-garbage", fixed(`{"a": 1} {}`), syscall.EINVAL),
		contentCase("content-object-os-system", fixed(`{"x": {"$object": "os.system", "args": ["touch /tmp/sessionfs-pwned"]}}`), syscall.EINVAL),
		// Python (3.10.7+, 3.11) refuses to parse integers of more than 4300
		// digits: Django 3.2 would then raise in decode() (a 500 for that user).
		contentCase("content-integer-5000-digits", func() []byte { return []byte(`{"a": ` + strings.Repeat("9", 5000) + "}") }, syscall.EINVAL),
		{name: "content-100MiB", run: func(e *hostileEnv) string {
			return wantErrno("save of 100 MiB", writeThrough(e.m.File(e.key), make100MiB(), os.O_TRUNC), syscall.EFBIG)
		}},
		{name: "content-integer-10^1000-round-trips", changes: true, run: func(e *hostileEnv) string {
			js := `{"big": 1` + strings.Repeat("0", 1000) + `}`
			if err := writeThrough(e.m.File(e.key), []byte(js), os.O_TRUNC); err != nil {
				return fmt.Sprintf("save 10^1000: %v", err)
			}
			got := djangoLoad(e.t, e.m, e.dj, e.key)
			same, diff, err := harness.SameSession(got.Data, []byte(js))
			restore := writeThrough(e.m.File(e.key), []byte(baseSession), os.O_TRUNC)
			if err != nil || !same || restore != nil {
				return fmt.Sprintf("django loads 10^1000 as %.80s: %s %v (restore: %v)", got.Data, diff, err, restore)
			}
			return ""
		}},
	}
}

func make100MiB() []byte {
	b := make([]byte, 100<<20)
	copy(b, `{"a": "`)
	for i := 7; i < len(b)-2; i++ {
		b[i] = 'x'
	}
	copy(b[len(b)-2:], `"}`)
	return b
}
