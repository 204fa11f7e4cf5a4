package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/campaign"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
)

// TestCampaignConcurrency: Django processes save the
// same sessions in a loop (loop_save) and another Django loads them
// (loop_load), while readers cat them and tail -c their ends through the
// mount and editors save new versions of other sizes over them (cp, a
// redirect, a rename), for a set duration: the sizes change under open
// readers. Zero torn reads
// (every cat is one whole document written for that session, every tail the
// end of one), zero decode errors, zero Django exceptions; after Django
// stops, a final write through the mount is what Django loads and cat shows.
func TestCampaignConcurrency(t *testing.T) {
	dj := harness.RequireDjango(t, "3.2")
	tl := campaign.Start(t, "concurrency")
	long := campaign.Long()
	dur := campaign.Duration(4*time.Second, 60*time.Second)
	nKeys, djWriters, readers, editors := 20, 2, 2, 1
	if long {
		nKeys, djWriters, readers, editors = 100, 4, 4, 2
	}
	m := mounttest.Start(t, mounttest.Options{})
	s := m.Settings()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))

	keys := make([]string, nKeys)
	var initial []harness.SaveItem
	for i := range keys {
		keys[i] = fmt.Sprintf("conc%04dkey%08d", i, rng.IntN(1e8))
		initial = append(initial, harness.SaveItem{Key: keys[i], Data: campaign.Doc(docTag("init", keys[i], 0), 20), MustCreate: true})
	}
	var created []harness.SaveResult
	dj.Call(t, s, harness.OpSave, initial, &created)
	for _, r := range created {
		if !r.OK {
			t.Fatalf("django could not create %s: %s", r.Key, r.Error)
		}
	}

	tmp := t.TempDir()
	stop := filepath.Join(tmp, "stop")
	ctx, cancel := context.WithTimeout(context.Background(), dur+5*time.Minute)
	defer cancel()
	var djWG sync.WaitGroup
	var readyFiles []string
	runDjango := func(name, op string, req any) {
		djWG.Add(1)
		go func() {
			defer djWG.Done()
			var res harness.LoopResult
			if err := dj.Run(ctx, s, op, req, &res); err != nil {
				tl.Problem("django %s: %v", name, err)
				return
			}
			tl.Operations.Add(int64(res.Iterations))
			tl.Checked.Add(int64(res.Iterations))
			if res.Errors > 0 {
				tl.Problem("django %s: %d of %d iterations failed: %s", name, res.Errors, res.Iterations, strings.Join(res.Samples, "; "))
			}
			t.Logf("django %s: %d iterations", name, res.Iterations)
		}()
	}
	for w := range djWriters {
		var items []harness.SaveItem
		for _, key := range keys {
			items = append(items, harness.SaveItem{Key: key, Data: campaign.Doc(docTag(fmt.Sprintf("dj%d", w), key, 0), 5+w*40)})
		}
		ready := filepath.Join(tmp, fmt.Sprintf("ready-save-%d", w))
		readyFiles = append(readyFiles, ready)
		runDjango(fmt.Sprintf("loop_save %d", w), harness.OpLoopSave, harness.LoopSaveRequest{
			Sessions: items, Seconds: (dur + 3*time.Minute).Seconds(), StopFile: stop, ReadyFile: ready})
	}
	ready := filepath.Join(tmp, "ready-load")
	readyFiles = append(readyFiles, ready)
	runDjango("loop_load", harness.OpLoopLoad, harness.LoopLoadRequest{
		Keys: keys, Seconds: (dur + 3*time.Minute).Seconds(), StopFile: stop, ReadyFile: ready})
	waitForFiles(t, readyFiles, 2*time.Minute)

	var toolWG sync.WaitGroup
	toolCtx, toolStop := context.WithCancel(ctx)
	for r := range readers {
		toolWG.Add(1)
		go func() {
			defer toolWG.Done()
			concReader(toolCtx, tl, m, keys, uint64(r))
		}()
	}
	// An in-place save (cp, a redirect) truncates the very file the name
	// leads to, and a tail opening it meanwhile takes the writer's size, as
	// on any file system: tails read the other half, which only Django and
	// rename-to-commit saves through the mount change.
	inPlace, renamed := keys[:nKeys/2], keys[nKeys/2:]
	for r := range readers {
		toolWG.Add(1)
		go func() {
			defer toolWG.Done()
			concTailer(toolCtx, tl, m, renamed, uint64(r))
		}()
	}
	for e := range editors {
		toolWG.Add(1)
		go func() {
			defer toolWG.Done()
			concEditor(toolCtx, tl, m, inPlace, renamed, filepath.Join(tmp, fmt.Sprintf("edit%d", e)), fmt.Sprintf("ed%d", e), uint64(e))
		}()
	}
	time.Sleep(dur)
	if err := os.WriteFile(stop, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	djWG.Wait()
	toolStop()
	toolWG.Wait()
	t.Logf("through the mount: %d cats, %d tails, %d cps and redirects", catCount.Load(), tailCount.Load(), cpCount.Load())

	// Django has stopped: the directory is quiet. Every file holds one whole
	// document; then a last write through the mount must be what everyone sees.
	bs := checkBacking(t, tl, m.Backing, m.SecretKey)
	if len(bs.Sessions) != nKeys {
		tl.Problem("%d sessions in the backing directory, want %d", len(bs.Sessions), nKeys)
	}
	final := map[string]string{}
	for _, key := range keys {
		final[key] = docTag("final", key, 0)
		if err := os.WriteFile(m.File(key), campaign.Doc(final[key], 3), 0o600); err != nil {
			tl.Problem("final write of %s through the mount: %v", key, err)
		}
	}
	djangoCheck(t, tl, dj, s, final)
	for _, key := range keys {
		b, err := os.ReadFile(m.File(key))
		if tag, terr := campaign.DocTag(b); err != nil || terr != nil || tag != final[key] {
			tl.Problem("cat %s after the final write: %q (%v, %v), want tag %q", key, tag, err, terr, final[key])
		}
	}
	if log := m.Stderr(); strings.Contains(log, "panic") || strings.Contains(log, "unmapped error") {
		tl.Problem("the mount logged a panic or an unmapped error:\n%s", log)
	}
}

// catCount, tailCount and cpCount count the mount's readers' and editors'
// operations.
var catCount, tailCount, cpCount atomic.Int64

// docTag names one write: who wrote it, for which session, which write.
func docTag(writer, key string, seq int) string { return fmt.Sprintf("%s:%s:%d", writer, key, seq) }

// concReader cats random sessions through the mount until ctx ends: each
// output must be a whole document written for that very session.
func concReader(ctx context.Context, tl *campaign.Tally, m *mounttest.Mount, keys []string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 5))
	for ctx.Err() == nil {
		key := keys[rng.IntN(len(keys))]
		cctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		out, err := exec.CommandContext(cctx, "cat", m.File(key)).Output()
		cancel()
		tl.Operations.Add(1)
		tl.Checked.Add(1)
		catCount.Add(1)
		if err != nil {
			tl.Problem("cat %s: %v", key, err)
			continue
		}
		tag, err := campaign.DocTag(out)
		if err != nil {
			tl.Problem("cat %s: torn or foreign read: %v", key, err)
			continue
		}
		if parts := strings.Split(tag, ":"); len(parts) != 3 || parts[1] != key {
			tl.Problem("cat %s shows a document written for another session: tag %q", key, tag)
		}
	}
}

// concTailer runs tail -c N on random sessions through the mount until ctx
// ends: tail takes the size from the open file and reads from size-N, so a
// size that is not the content's shows as a short, empty or foreign end.
// N stays within the padding every document of the campaign ends with.
func concTailer(ctx context.Context, tl *campaign.Tally, m *mounttest.Mount, keys []string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for ctx.Err() == nil {
		key := keys[rng.IntN(len(keys))]
		n := 60 + rng.IntN(70)
		cctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		out, err := exec.CommandContext(cctx, "tail", "-c", fmt.Sprint(n), m.File(key)).Output()
		cancel()
		tl.Operations.Add(1)
		tl.Checked.Add(1)
		tailCount.Add(1)
		if err != nil {
			tl.Problem("tail -c %d %s: %v", n, key, err)
			continue
		}
		if err := docEnd(out, n, key); err != nil {
			tl.Problem("tail -c %d %s: torn, short or foreign end: %v", n, key, err)
		}
	}
}

// docEnd checks that out is the last n bytes of a pretty campaign document
// written for key, padded with at least n bytes: whole tag units ending the
// padding, after the end of one more.
func docEnd(out []byte, n int, key string) error {
	if len(out) != n {
		return fmt.Errorf("%d bytes, want %d: %q", len(out), n, out)
	}
	s := strings.TrimRight(string(out), " \n")
	if !strings.HasSuffix(s, "}") {
		return fmt.Errorf("does not end the document: %q", out)
	}
	s = strings.TrimRight(strings.TrimSuffix(s, "}"), " \n")
	if !strings.HasSuffix(s, `."`) {
		return fmt.Errorf("does not end the padding: %q", out)
	}
	units := strings.Split(strings.TrimSuffix(s, `"`), ".")
	if len(units) < 3 {
		return fmt.Errorf("no whole tag: %q", out)
	}
	tag := units[len(units)-2]
	for _, u := range units[1 : len(units)-1] {
		if u != tag {
			return fmt.Errorf("two tags %q and %q: %q", u, tag, out)
		}
	}
	if !strings.HasSuffix(tag, units[0]) {
		return fmt.Errorf("%q does not end tag %q: %q", units[0], tag, out)
	}
	if parts := strings.Split(tag, ":"); len(parts) != 3 || parts[1] != key {
		return fmt.Errorf("tag %q was written for another session", tag)
	}
	return nil
}

// concEditor saves new versions (some over 128 KiB, so cat needs several
// reads) through the mount until ctx ends: over inPlace sessions with cp or
// a shell redirect (both truncate the file at open), over renamed sessions
// the way sed -i does (a temporary file in the mount renamed over the
// session).
func concEditor(ctx context.Context, tl *campaign.Tally, m *mounttest.Mount, inPlace, renamed []string, src, name string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 6))
	for seq := 0; ctx.Err() == nil; seq++ {
		keys := inPlace
		if seq%3 == 2 {
			keys = renamed
		}
		key := keys[rng.IntN(len(keys))]
		pad := 5 + rng.IntN(200)
		if rng.IntN(5) == 0 {
			pad = 6000 // ~150 KiB pretty
		}
		if err := os.WriteFile(src, campaign.Doc(docTag(name, key, seq), pad), 0o600); err != nil {
			tl.Problem("writing %s: %v", src, err)
			return
		}
		cctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		var cmd *exec.Cmd
		switch seq % 3 {
		case 0:
			cmd = exec.CommandContext(cctx, "cp", src, m.File(key))
		case 1:
			cmd = exec.CommandContext(cctx, "sh", "-c", `cat "$1" > "$2"`, "sh", src, m.File(key))
		default:
			tmp := filepath.Join(m.Dir, fmt.Sprintf("%s.json.%s.tmp", key, name))
			cmd = exec.CommandContext(cctx, "sh", "-c", `cat "$1" > "$2" && mv "$2" "$3"`, "sh", src, tmp, m.File(key))
		}
		out, err := cmd.CombinedOutput()
		cancel()
		tl.Operations.Add(1)
		cpCount.Add(1)
		if err != nil {
			tl.Problem("%q over %s through the mount: %v: %s", cmd.Args, key, err, out)
		}
	}
}

// waitForFiles waits until every file exists (Django processes ready).
func waitForFiles(t *testing.T, files []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, f := range files {
		for {
			if _, err := os.Stat(f); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not created within %v", f, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
