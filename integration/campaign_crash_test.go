package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/campaign"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
	"github.com/sessionfs/sessionfs/store"
)

// TestCampaignCrashMount: several writers cp whole
// sessions through the mount while the mount process is killed with
// SIGKILL at random points. After every kill each backing file decodes
// (store, and Django 3.2 in one batch), holds exactly one write, leftover
// temp files are reported by stats and removed by gc once a minute old,
// and mount --force serves the directory again.
func TestCampaignCrashMount(t *testing.T) {
	dj := harness.RequireDjango(t, "3.2")
	tl := campaign.Start(t, "crash-mount")
	rounds := campaign.Count(4, 100)
	maxDelay := 700
	if campaign.Long() {
		maxDelay = 2000 // ~10,000 writes over the run
	}
	const writers, nKeys = 3, 12
	m := mounttest.Start(t, mounttest.Options{})
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))

	keys := make([]string, nKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("crash%03dkey%08d", i, rng.IntN(1e8))
		if err := os.WriteFile(m.File(keys[i]), campaign.Doc(tagOf("init", i), 10), 0o600); err != nil {
			t.Fatalf("creating session %s through the mount: %v", keys[i], err)
		}
	}
	src := t.TempDir()
	var temps int
	for round := 0; round < rounds; round++ {
		if round > 0 {
			m.Restart(t, "--force")
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				crashWriter(ctx, tl, m, keys, filepath.Join(src, fmt.Sprintf("w%d", w)), fmt.Sprintf("r%dw%d", round, w), uint64(round*writers+w))
			}()
		}
		time.Sleep(time.Duration(50+rng.IntN(maxDelay)) * time.Millisecond)
		m.Kill(t)
		tl.Faults.Add(1)
		cancel()
		wg.Wait()

		bs := checkBacking(t, tl, m.Backing, m.SecretKey)
		if len(bs.Sessions) != nKeys {
			tl.Problem("round %d: %d sessions in the backing directory, want %d", round, len(bs.Sessions), nKeys)
		}
		djangoCheck(t, tl, dj, m.Settings(), bs.Sessions)
		if len(bs.Temp) > 0 {
			temps += len(bs.Temp)
			reapTempFiles(t, tl, m.Backing, m.SecretKey, bs.Temp)
		}
	}
	m.Restart(t, "--force")
	final := checkBacking(t, tl, m.Backing, m.SecretKey)
	for key, tag := range final.Sessions {
		b, err := os.ReadFile(m.File(key))
		if err != nil {
			tl.Problem("cat %s after the last restart: %v", key, err)
			continue
		}
		if got, err := campaign.DocTag(b); err != nil || got != tag {
			tl.Problem("cat %s after the last restart: tag %q (%v), backing holds %q", key, got, err, tag)
		}
	}
	t.Logf("%d kills during %d writes through the mount; %d leftover temp files seen and reaped", rounds, tl.Operations.Load(), temps)
}

// crashWriter cps campaign documents of varied size (up to ~100 KiB, so a
// kill can land inside a write) over random sessions until ctx ends.
func crashWriter(ctx context.Context, tl *campaign.Tally, m *mounttest.Mount, keys []string, srcFile, name string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 2))
	for seq := 0; ctx.Err() == nil; seq++ {
		if err := os.WriteFile(srcFile, campaign.Doc(tagOf(name, seq), rng.IntN(8000)), 0o600); err != nil {
			tl.Problem("writing %s: %v", srcFile, err)
			return
		}
		cctx, cancel := context.WithTimeout(ctx, cmdTimeout)
		err := exec.CommandContext(cctx, "cp", srcFile, m.File(keys[rng.IntN(len(keys))])).Run()
		cancel()
		if err == nil {
			tl.Operations.Add(1)
		}
	}
}

// TestCampaignCrashGCRevoke: SIGKILL `sessionfs gc`
// and `sessionfs revoke` after a random delay within a run over a large
// directory. Every remaining file stays valid, gc removes only expired
// sessions, revoke only that user's; a run to completion finishes the job.
func TestCampaignCrashGCRevoke(t *testing.T) {
	tl := campaign.Start(t, "crash-gc-revoke")
	rounds := campaign.Count(6, 60)
	n := 2000
	if campaign.Long() {
		n = 20000
	}
	dir := t.TempDir()
	secret := fmt.Sprintf("crash-gc-secret-%d", time.Now().UnixNano())
	st := campaignStore(t, dir, secret)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))

	type fixture struct {
		user    string
		expired bool
	}
	fx := map[string]fixture{}
	for i := range n {
		fx[fmt.Sprintf("gcrev%06dx%04d", i, rng.IntN(1e4))] = fixture{user: fmt.Sprint(i % 40), expired: i%3 == 0}
	}
	// plant (re)creates every fixture session that is missing.
	plant := func() {
		old := time.Now().Add(-30 * 24 * time.Hour)
		for key, f := range fx {
			if _, err := os.Lstat(filepath.Join(dir, "sessionid"+key)); err == nil {
				continue
			}
			js := fmt.Sprintf(`{"_auth_user_id":%q,"_auth_user_backend":"django.contrib.auth.backends.ModelBackend","tag":%q}`, f.user, key)
			if _, err := st.Save(context.Background(), key, []byte(js), store.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			if f.expired {
				if err := os.Chtimes(filepath.Join(dir, "sessionid"+key), old, old); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// check: every file valid; which fixture sessions must still be there.
	check := func(what string, mayBeGone func(fixture) bool) {
		present := map[string]bool{}
		err := st.Scan(context.Background(), func(e store.Entry) error {
			tl.Checked.Add(1)
			present[e.Key] = true
			if e.Err != nil {
				tl.Problem("%s: %s no longer decodes: %v", what, e.Key, e.Err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for key, f := range fx {
			if !present[key] && !mayBeGone(f) {
				tl.Problem("%s removed %s (user %s, expired %v), which it must keep", what, key, f.user, f.expired)
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != len(present) {
			tl.Problem("%s: %d directory entries but %d sessions (temp files left?)", what, len(ents), len(present))
		}
	}
	killAfter := func(args ...string) {
		// A dry run measures how long a whole run takes here, so the kill
		// lands inside the real run most of the time.
		start := time.Now()
		sfs(t, tl, dir, secret, nil, append(args, "--dry-run")...)
		full := time.Since(start)
		argv := append([]string{harness.Binary(t)}, args...)
		cmd := exec.Command(argv[0], append(argv[1:], "--session-file-path", dir)...)
		cmd.Env = append(os.Environ(), "DJANGO_SECRET_KEY="+secret)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(full) + 1)))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		tl.Faults.Add(1)
		tl.Operations.Add(1)
	}
	for round := range rounds {
		plant()
		killAfter("gc")
		check(fmt.Sprintf("round %d, killed gc", round), func(f fixture) bool { return f.expired })

		plant()
		user := fmt.Sprint(round % 40)
		killAfter("revoke", "--user", user)
		check(fmt.Sprintf("round %d, killed revoke --user %s", round, user), func(f fixture) bool { return f.user == user })
	}
	// Runs to completion finish what the killed ones started (after a
	// replant: the last killed revoke may have removed some of its user's).
	plant()
	if res := sfs(t, tl, dir, secret, nil, "gc"); res.Code != 0 {
		tl.Problem("gc: exit %d: %s", res.Code, res.Stderr)
	}
	if res := sfs(t, tl, dir, secret, nil, "revoke", "--user", "0"); res.Code != 0 {
		tl.Problem("revoke: exit %d: %s", res.Code, res.Stderr)
	}
	tl.Operations.Add(2)
	check("complete gc and revoke --user 0", func(f fixture) bool { return f.expired || f.user == "0" })
	for key, f := range fx {
		_, err := os.Lstat(filepath.Join(dir, "sessionid"+key))
		if gone := os.IsNotExist(err); gone != (f.expired || f.user == "0") {
			tl.Problem("after complete runs, %s (user %s, expired %v) present=%v", key, f.user, f.expired, !gone)
		}
	}
}
