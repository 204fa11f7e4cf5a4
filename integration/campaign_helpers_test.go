package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/campaign"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store/filestore"
)

// cmdTimeout bounds every command a campaign runs: generous (the machine is
// shared and loaded), but a hang still ends the test instead of CI's clock.
const cmdTimeout = 2 * time.Minute

// campaignStore is an in-process store over dir with secret, for checking
// backing files independently of the process under test.
func campaignStore(t testing.TB, dir, secret string) *filestore.FileStore {
	t.Helper()
	cd, err := codec.New(codec.Config{SecretKey: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := filestore.New(filestore.Config{Dir: dir, Codec: cd, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sfs runs the sessionfs binary with the backing directory and key of a
// campaign, under cmdTimeout; a hang is a problem of tl.
func sfs(t testing.TB, tl *campaign.Tally, dir, secret string, stdin []byte, args ...string) campaign.Result {
	t.Helper()
	// Settings go before the command, so a case's arguments are all its own.
	argv := append([]string{harness.Binary(t), "--session-file-path", dir}, args...)
	return checkRun(t, tl, args, cmdTimeout, stdin, []string{"DJANGO_SECRET_KEY=" + secret}, argv)
}

// sfsMeasured is sfs with the command's true peak RSS in Result.MaxRSS.
func sfsMeasured(t testing.TB, tl *campaign.Tally, dir, secret string, stdin []byte, args ...string) campaign.Result {
	t.Helper()
	argv := append([]string{harness.Binary(t), "--session-file-path", dir}, args...)
	return checkRun(t, tl, args, cmdTimeout, stdin, []string{"DJANGO_SECRET_KEY=" + secret}, campaign.Measured(t.TempDir(), argv))
}

func checkRun(t testing.TB, tl *campaign.Tally, args []string, timeout time.Duration, stdin []byte, env, argv []string) campaign.Result {
	t.Helper()
	res, err := campaign.Run(timeout, stdin, env, argv...)
	if err != nil {
		t.Fatal(err)
	}
	if res.TimedOut {
		tl.Problem("sessionfs %v hung (killed after %v)", args, cmdTimeout)
	}
	return res
}

// backingState is what a check of the backing directory found.
type backingState struct {
	Sessions map[string]string // key -> tag of its campaign document
	Temp     []string          // leftover _out_ temp files
}

// checkBacking decodes every backing file with the store and checks that
// each holds one whole campaign document; every problem goes to tl.
func checkBacking(t testing.TB, tl *campaign.Tally, dir, secret string) backingState {
	t.Helper()
	st := campaignStore(t, dir, secret)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	bs := backingState{Sessions: map[string]string{}}
	for _, e := range ents {
		name := e.Name()
		if strings.Contains(name, "_out_") {
			bs.Temp = append(bs.Temp, name)
			continue
		}
		key, ok := strings.CutPrefix(name, "sessionid")
		if !ok {
			continue
		}
		tl.Checked.Add(1)
		s, err := st.Load(context.Background(), key)
		if err != nil {
			tl.Problem("backing file %s does not decode: %v", name, err)
			continue
		}
		tag, err := campaign.DocTag(s.JSON)
		if err != nil {
			tl.Problem("backing file %s: %v", name, err)
			continue
		}
		bs.Sessions[key] = tag
	}
	return bs
}

// djangoCheck loads every key with Django 3.2 in one batch: each must load
// without an exception, keep its key and hold the document tag want[key].
func djangoCheck(t testing.TB, tl *campaign.Tally, dj *harness.Django, s harness.Settings, want map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var res []harness.LoadResult
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if err := dj.Run(ctx, s, harness.OpLoad, keys, &res); err != nil {
		tl.Problem("django load: %v", err)
		return
	}
	for i, r := range res {
		tl.Checked.Add(1)
		if !r.OK || !r.KeyKept {
			d, _ := json.Marshal(r)
			tl.Problem("django load %s: %s", keys[i], d)
			continue
		}
		tag, err := campaign.DocTag(r.Data)
		if err != nil || tag != want[keys[i]] {
			tl.Problem("django load %s: tag %q (%v), store read %q", keys[i], tag, err, want[keys[i]])
		}
	}
}

// statsTempFiles is `sessionfs stats --json`'s temp_files.
func statsTempFiles(t testing.TB, tl *campaign.Tally, dir, secret string) int {
	t.Helper()
	res := sfs(t, tl, dir, secret, nil, "stats", "--json")
	var st struct {
		TempFiles *int `json:"temp_files"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &st); err != nil || st.TempFiles == nil || res.Code != 0 {
		tl.Problem("stats --json: exit %d, %v: %s %s", res.Code, err, res.Stdout, res.Stderr)
		return -1
	}
	return *st.TempFiles
}

// reapTempFiles checks that stats reports the leftover temp files, ages
// them past gc's minute and checks that gc removes them.
func reapTempFiles(t testing.TB, tl *campaign.Tally, dir, secret string, temp []string) {
	t.Helper()
	if n := statsTempFiles(t, tl, dir, secret); n != len(temp) {
		tl.Problem("stats reports %d temp files, the directory holds %d: %v", n, len(temp), temp)
	}
	old := time.Now().Add(-2 * time.Minute)
	for _, name := range temp {
		if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if res := sfs(t, tl, dir, secret, nil, "gc"); res.Code != 0 {
		tl.Problem("gc: exit %d: %s", res.Code, res.Stderr)
	}
	for _, name := range temp {
		if _, err := os.Lstat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			tl.Problem("gc left the stale temp file %s (%v)", name, err)
		}
	}
}

func tagOf(writer string, seq int) string { return fmt.Sprintf("%s-%d", writer, seq) }
