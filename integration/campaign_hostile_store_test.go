package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sessionfs/sessionfs/integration/campaign"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store"
)

// Hostile cases of the store's promises: saves keep the owner Django
// needs, gc never takes the temp file of a save in flight, and nothing is
// saved that cannot be read back.

// plantSiteOwned saves key in the backing directory as the site's user
// (nobody) would have it, with mode perm.
func plantSiteOwned(key string, perm os.FileMode) func(e *hostileEnv) {
	return func(e *hostileEnv) {
		st := campaignStore(e.t, e.m.Backing, e.m.SecretKey)
		if _, err := st.Save(context.Background(), key, []byte(`{"site": true}`), store.SaveOptions{MustCreate: true}); err != nil {
			e.t.Fatal(err)
		}
		must(e, os.Chown(plantPath(e, key), nobodyID, nobodyID))
		must(e, os.Chmod(plantPath(e, key), perm))
	}
}

// ownedBy is "" when the backing file of key has owner uid:gid and mode
// perm, else what it has.
func ownedBy(e *hostileEnv, what, key string, uid, gid uint32, perm os.FileMode) string {
	fi, err := os.Lstat(plantPath(e, key))
	if err != nil {
		return fmt.Sprintf("%s: %v", what, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != uid || st.Gid != gid || fi.Mode() != perm {
		return fmt.Sprintf("%s: the backing file is %d:%d %v, want %d:%d %v", what, st.Uid, st.Gid, fi.Mode(), uid, gid, perm)
	}
	return ""
}

// tooLargeMessage is how a save over the read bound explains itself.
var tooLargeMessage = regexp.MustCompile(`encoded session is 1[78]\d{6} bytes, over the 16777216-byte limit`)

func hostileStore() []hostileCase {
	return []hostileCase{
		{name: "store-owner-kept-by-edit-through-mount", changes: true, plant: plantSiteOwned("plantowned01", 0o640),
			run: func(e *hostileEnv) string {
				if err := writeThrough(e.m.File("plantowned01"), []byte(`{"edited": 1}`), os.O_TRUNC); err != nil {
					return fmt.Sprintf("edit of nobody's session through the mount: %v", err)
				}
				return ownedBy(e, "after an edit through the mount", "plantowned01", nobodyID, nobodyID, 0o640)
			}},
		{name: "store-owner-kept-by-rename-through-mount", changes: true, plant: plantSiteOwned("plantowned02", 0o640),
			run: func(e *hostileEnv) string {
				if err := os.Rename(e.m.File("plantowned02"), e.m.File("plantowned03")); err != nil {
					return fmt.Sprintf("mv of nobody's session through the mount: %v", err)
				}
				return ownedBy(e, "after a re-key through the mount", "plantowned03", nobodyID, nobodyID, 0o640)
			}},
		{name: "store-owner-kept-by-cli-put", changes: true, plant: plantSiteOwned("plantowned04", 0o600),
			run: func(e *hostileEnv) string {
				for _, args := range [][]string{{"put", "plantowned04"}, {"put", "--keep-mtime", "plantowned04"}} {
					if res := sfs(e.t, e.tl, e.m.Backing, e.m.SecretKey, []byte(`{"put": 1}`), args...); res.Code != 0 {
						return fmt.Sprintf("sessionfs %v: exit %d: %s", args, res.Code, res.Stderr)
					}
					if msg := ownedBy(e, fmt.Sprint(args), "plantowned04", nobodyID, nobodyID, 0o600); msg != "" {
						return msg
					}
				}
				return ""
			}},
		{name: "store-world-writable-not-passed-on", changes: true, plant: plantSiteOwned("plantowned05", 0o666),
			run: func(e *hostileEnv) string {
				if err := writeThrough(e.m.File("plantowned05"), []byte(`{"edited": 1}`), os.O_TRUNC); err != nil {
					return fmt.Sprintf("edit of a world-writable session: %v", err)
				}
				return ownedBy(e, "after an edit of a world-writable session", "plantowned05", nobodyID, nobodyID, 0o664)
			}},
		{name: "store-new-session-gets-directory-owner", changes: true,
			run: func(e *hostileEnv) string {
				must(e, os.Chown(e.m.Backing, nobodyID, nobodyID))
				defer func() { must(e, os.Chown(e.m.Backing, 0, 0)) }()
				if err := writeThrough(e.m.File("plantnewown1"), []byte(`{"new": 1}`), os.O_CREATE|os.O_EXCL); err != nil {
					return fmt.Sprintf("create through the mount: %v", err)
				}
				if res := sfs(e.t, e.tl, e.m.Backing, e.m.SecretKey, []byte(`{"new": 2}`), "put", "--create", "plantnewown2"); res.Code != 0 {
					return fmt.Sprintf("put --create: exit %d: %s", res.Code, res.Stderr)
				}
				return firstProblem(ownedBy(e, "created through the mount", "plantnewown1", nobodyID, nobodyID, 0o600),
					ownedBy(e, "created by put --create", "plantnewown2", nobodyID, nobodyID, 0o600))
			}},
		{name: "store-gc-beside-saves-keeping-mtime", changes: true,
			plant: func(e *hostileEnv) {
				st := campaignStore(e.t, e.m.Backing, e.m.SecretKey)
				old := time.Now().Add(-time.Hour)
				for _, k := range []string{"plantgcrace1", "plantgcrace2"} {
					if _, err := st.Save(context.Background(), k, []byte(`{"n": 0}`), store.SaveOptions{MustCreate: true}); err != nil {
						e.t.Fatal(err)
					}
					must(e, os.Chtimes(filepath.Join(e.m.Backing, "sessionid"+k), old, old))
				}
			},
			run: gcBesideSaves},
		{name: "store-gc-spares-locked-temp-file", changes: true,
			plant: func(e *hostileEnv) {
				p := filepath.Join(e.m.Backing, "sessionid"+e.key+"_out_inflight1")
				must(e, os.WriteFile(p, []byte("half a save"), 0o600))
				old := time.Now().Add(-time.Hour)
				must(e, os.Chtimes(p, old, old))
			},
			run: func(e *hostileEnv) string {
				// The test holds the lock a save in flight holds on its temp file.
				p := filepath.Join(e.m.Backing, "sessionid"+e.key+"_out_inflight1")
				f, err := os.Open(p)
				if err != nil {
					return err.Error()
				}
				defer f.Close()
				must(e, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))
				if res := sfs(e.t, e.tl, e.m.Backing, e.m.SecretKey, nil, "gc"); res.Code != 0 {
					return fmt.Sprintf("gc: exit %d: %s", res.Code, res.Stderr)
				}
				if _, err := os.Lstat(p); err != nil {
					return fmt.Sprintf("gc removed the temp file of a save in flight: %v", err)
				}
				must(e, syscall.Flock(int(f.Fd()), syscall.LOCK_UN))
				if res := sfs(e.t, e.tl, e.m.Backing, e.m.SecretKey, nil, "gc"); res.Code != 0 {
					return fmt.Sprintf("gc: exit %d: %s", res.Code, res.Stderr)
				}
				if _, err := os.Lstat(p); !os.IsNotExist(err) {
					return fmt.Sprintf("gc left the stale temp file once unlocked: %v", err)
				}
				return ""
			}},
		{name: "store-save-over-read-bound-through-mount", run: func(e *hostileEnv) string {
			return wantErrno("save of 15 MiB that encodes to over 16 MiB", writeThrough(e.m.File(e.key), incompressibleSession(15<<20), os.O_TRUNC), syscall.EFBIG)
		}},
		{name: "store-put-over-read-bound", run: func(e *hostileEnv) string {
			res := sfs(e.t, e.tl, e.m.Backing, e.m.SecretKey, incompressibleSession(15<<20), "put", e.key)
			if res.Code != 3 || !tooLargeMessage.MatchString(res.Stderr) {
				return fmt.Sprintf("put of 15 MiB that encodes to over 16 MiB: exit %d, %.200q; want 3 and both sizes", res.Code, res.Stderr)
			}
			return ""
		}},
	}
}

// mountSaveLoop is a Python program that saves argv[1] through the mount
// with the session {"n": i} in a loop for argv[2] seconds, and prints what
// it did as JSON.
const mountSaveLoop = `
import json, sys, time
path, end = sys.argv[1], time.time() + float(sys.argv[2])
saves, errors = 0, []
while time.time() < end:
    saves += 1
    try:
        with open(path, "w") as f:
            f.write('{"n": %d}' % saves)
    except OSError as e:
        errors.append(str(e))
print(json.dumps({"saves": saves, "errors": errors}))
`

// gcBesideSaves runs gc in a loop while saves that keep an hour-old mtime
// go on, through the mount (every edit there keeps the mtime) and with
// put --keep-mtime, each on its own session (the mount would take the
// CLI's saves for someone else's change). Every save must succeed. The
// saves through the mount come from a process of their own that starts no
// other: a flush from a child closing an inherited descriptor would count
// as another process's save.
func gcBesideSaves(e *hostileEnv) string {
	d := campaign.Duration(3*time.Second, 30*time.Second)
	deadline := time.Now().Add(d)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		problems []string
		saves    int
	)
	problem := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// sfs itself may not be called here: it fails the test from a goroutine.
	bin, env := harness.Binary(e.t), []string{"DJANGO_SECRET_KEY=" + e.m.SecretKey}
	run := func(stdin []byte, argv ...string) (string, string) {
		res, err := campaign.Run(cmdTimeout, stdin, env, argv...)
		switch {
		case err != nil:
			return "", err.Error()
		case res.TimedOut:
			return "", "hung"
		case res.Code != 0:
			return "", fmt.Sprintf("exit %d: %s", res.Code, res.Stderr)
		}
		return res.Stdout, ""
	}
	sfsArgv := func(args ...string) []string {
		return append([]string{bin, "--session-file-path", e.m.Backing}, args...)
	}
	wg.Go(func() {
		for time.Now().Before(deadline) {
			if _, msg := run(nil, sfsArgv("gc")...); msg != "" {
				problem("gc: %s", msg)
			}
		}
	})
	wg.Go(func() {
		out, msg := run(nil, harness.SystemPython, "-c", mountSaveLoop, e.m.File("plantgcrace1"), fmt.Sprint(d.Seconds()))
		if msg != "" {
			problem("saves through the mount: %s", msg)
			return
		}
		var res struct {
			Saves  int      `json:"saves"`
			Errors []string `json:"errors"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			problem("saves through the mount: %v: %q", err, out)
			return
		}
		for _, err := range res.Errors {
			problem("save through the mount beside gc: %s", err)
		}
		mu.Lock()
		saves += res.Saves
		mu.Unlock()
	})
	wg.Go(func() {
		for n := 1; time.Now().Before(deadline); n++ {
			if _, msg := run(fmt.Appendf(nil, `{"n": %d}`, n), sfsArgv("put", "--keep-mtime", "plantgcrace2")...); msg != "" {
				problem("put --keep-mtime %d beside gc: %s", n, msg)
			}
			mu.Lock()
			saves++
			mu.Unlock()
		}
	})
	wg.Wait()
	e.tl.Operations.Add(int64(saves))
	if len(problems) > 0 {
		return fmt.Sprintf("%d of %d saves or gc runs failed: %s", len(problems), saves, strings.Join(problems[:min(3, len(problems))], "; "))
	}
	if saves < 20 {
		return fmt.Sprintf("only %d saves in %v: too few to race gc", saves, d)
	}
	for _, k := range []string{"plantgcrace1", "plantgcrace2"} {
		fi, err := os.Stat(plantPath(e, k))
		if err != nil {
			return fmt.Sprintf("%s after the saves: %v", k, err)
		}
		if time.Since(fi.ModTime()) < 59*time.Minute {
			return fmt.Sprintf("%s after the saves has mtime %v: the kept mtime moved", k, fi.ModTime())
		}
	}
	return ""
}
