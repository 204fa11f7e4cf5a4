package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/filestore"
)

// concurrencySeconds is how long each side of a concurrency test runs.
const concurrencySeconds = 3

// versionedSessions returns n keys, each with two versions of its session.
func versionedSessions(n int) (keys []string, versions map[string][2]json.RawMessage) {
	versions = map[string][2]json.RawMessage{}
	for i := range n {
		key := fmt.Sprintf("concurrent%04dabcdefgh", i)
		keys = append(keys, key)
		versions[key] = [2]json.RawMessage{
			json.RawMessage(fmt.Sprintf(`{"_auth_user_id":"%d","version":1,"pad":"%0200d"}`, i, 1)),
			json.RawMessage(fmt.Sprintf(`{"_auth_user_id":"%d","version":2,"cart":[1,2,3],"pad":"%03000d"}`, i, 2)),
		}
	}
	return keys, versions
}

// waitForFile waits until path exists: a helper process (Django, an
// editor) signals it is ready. done, when not nil, reports the helper's end.
func waitForFile(t *testing.T, path string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the helper process ended before it was ready (%s): %v", path, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within a minute", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStoreLoadsWhileDjangoSaves: Django rewrites sessions in a loop (temp
// file + rename) while the store loads them: every load must return one of
// the versions Django writes, never an error or a torn file.
func TestStoreLoadsWhileDjangoSaves(t *testing.T) {
	dj := harness.RequireDjango(t, "3.2")
	dir := t.TempDir()
	keys, versions := versionedSessions(4)
	var initial, loop []harness.SaveItem
	for _, key := range keys {
		initial = append(initial, harness.SaveItem{Key: key, Data: versions[key][0], MustCreate: true})
		loop = append(loop, harness.SaveItem{Key: key, Data: versions[key][0]}, harness.SaveItem{Key: key, Data: versions[key][1]})
	}
	dj.Call(t, storeSettings(dir), harness.OpSave, initial, nil)
	ctl := t.TempDir()
	req := harness.LoopSaveRequest{Sessions: loop, Seconds: 60,
		StopFile: filepath.Join(ctl, "stop"), ReadyFile: filepath.Join(ctl, "ready")}
	var djRes harness.LoopResult
	done := make(chan error, 1)
	go func() { done <- dj.Run(context.Background(), storeSettings(dir), harness.OpLoopSave, req, &djRes) }()
	waitForFile(t, req.ReadyFile, done)

	st := openStore(t, dir)
	ctx := context.Background()
	var loads, failures int
	for end := time.Now().Add(concurrencySeconds * time.Second); time.Now().Before(end); {
		key := keys[loads%len(keys)]
		loads++
		sess, err := st.Load(ctx, key)
		if err != nil {
			failures++
			t.Errorf("load %s while Django saves: %v", key, err)
			continue
		}
		a, _, _ := harness.SameSession(sess.JSON, versions[key][0])
		b, _, _ := harness.SameSession(sess.JSON, versions[key][1])
		if !a && !b {
			failures++
			t.Errorf("load %s: %s is neither version", key, sess.JSON)
		}
		if failures > 10 {
			break
		}
	}
	if err := os.WriteFile(req.StopFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d store loads during %d Django saves: %d failures; Django errors %d", loads, djRes.Iterations, failures, djRes.Errors)
	if djRes.Errors != 0 {
		t.Errorf("Django save errors: %v", djRes.Samples)
	}
	if djRes.Iterations < 10 || loads < 10 {
		t.Errorf("too little overlap: %d Django saves, %d loads", djRes.Iterations, loads)
	}
	assertNoLeftoverTemp(t, st)
}

// TestDjangoLoadsWhileStoreSaves: the store rewrites sessions while Django
// loads them: Django must always find one of the two versions, with no
// exception and its key kept.
func TestDjangoLoadsWhileStoreSaves(t *testing.T) {
	dj := harness.RequireDjango(t, "3.2")
	dir := t.TempDir()
	keys, versions := versionedSessions(4)
	st := openStore(t, dir)
	ctx := context.Background()
	want := map[string][]json.RawMessage{}
	for _, key := range keys {
		if _, err := st.Save(ctx, key, versions[key][0], store.SaveOptions{MustCreate: true}); err != nil {
			t.Fatal(err)
		}
		want[key] = []json.RawMessage{versions[key][0], versions[key][1]}
	}
	ctl := t.TempDir()
	req := harness.LoopLoadRequest{Keys: keys, Want: want, Seconds: 60,
		StopFile: filepath.Join(ctl, "stop"), ReadyFile: filepath.Join(ctl, "ready")}
	var djRes harness.LoopResult
	done := make(chan error, 1)
	go func() { done <- dj.Run(context.Background(), storeSettings(dir), harness.OpLoopLoad, req, &djRes) }()
	waitForFile(t, req.ReadyFile, done)

	saves := 0
	for end := time.Now().Add(concurrencySeconds * time.Second); time.Now().Before(end); saves++ {
		key := keys[saves%len(keys)]
		if _, err := st.Save(ctx, key, versions[key][(saves/len(keys))%2], store.SaveOptions{}); err != nil {
			t.Fatalf("save %s while Django loads: %v", key, err)
		}
	}
	if err := os.WriteFile(req.StopFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d store saves during %d Django loads: Django errors %d", saves, djRes.Iterations, djRes.Errors)
	if djRes.Errors != 0 {
		t.Errorf("Django load errors while the store saves: %v", djRes.Samples)
	}
	if djRes.Iterations < 10 || saves < 10 {
		t.Errorf("too little overlap: %d Django loads, %d saves", djRes.Iterations, saves)
	}
	assertNoLeftoverTemp(t, st)
}

func assertNoLeftoverTemp(t *testing.T, st *filestore.FileStore) {
	t.Helper()
	err := st.TempFiles(context.Background(), func(tf filestore.TempFile) error {
		t.Errorf("temp file left behind: %s", tf.Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
