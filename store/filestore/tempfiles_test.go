package filestore

import (
	"context"
	"github.com/sessionfs/sessionfs/store"
	"os"
	"testing"
	"time"
)

// gcDuringSave saves key keeping mtime (when not zero: the file gets it
// first, and the save keeps the expiry) and runs gc's temp-file sweep
// at the worst moment: the temp file written and synced, just before the
// rename. prepare, when not nil, runs on the temp file first. It returns
// what the sweep removed and the save's error.
func gcDuringSave(t *testing.T, s *FileStore, key string, mtime time.Time, prepare func(tmpName string)) ([]string, error) {
	t.Helper()
	ctx := context.Background()
	var removed []string
	s.hooks.beforeRename = func(tmpName string) error {
		if prepare != nil {
			prepare(tmpName)
		}
		var err error
		removed, err = s.removeStaleTemp(ctx, time.Minute, false)
		if err != nil {
			t.Errorf("removeStaleTemp: %v", err)
		}
		return nil
	}
	defer func() { s.hooks.beforeRename = nil }()
	if !mtime.IsZero() {
		setMtime(t, s.path(key), mtime)
	}
	_, err := s.Save(ctx, key, []byte(`{"edited":true}`), store.SaveOptions{KeepExpiry: !mtime.IsZero()})
	return removed, err
}

// A save that keeps an hour-old mtime must not hand its temp file that
// mtime before the rename: gc would take it for a crash's leftover.
func TestGCSparesTempFileOfSaveKeepingMtime(t *testing.T) {
	s, _ := newTestStore(t)
	const key = "keptmtime0001"
	save(t, s, key, `{"v":1}`)
	old := time.Now().Add(-time.Hour).Truncate(time.Second).Add(123456789)
	var tempMtime time.Time
	removed, err := gcDuringSave(t, s, key, old, func(tmpName string) {
		if fi, err := os.Stat(tmpName); err == nil {
			tempMtime = fi.ModTime()
		}
	})
	if err != nil || len(removed) != 0 {
		t.Fatalf("save beside gc: %v; gc removed %v", err, removed)
	}
	if time.Since(tempMtime) > time.Minute {
		t.Errorf("the temp file of a save in flight has mtime %v: it looks stale", tempMtime)
	}
	meta, err := s.Stat(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.path(key))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(old) || !meta.ModTime.Equal(old) {
		t.Errorf("saved file mtime %v (meta %v), want the kept %v", fi.ModTime(), meta.ModTime, old)
	}
	assertNoTempFiles(t, s)
}

// A save stalled long enough for its temp file to look an hour old (fsync
// on a sick disk, a stopped process) still holds the file's lock, and gc
// leaves a locked temp file alone.
func TestGCSparesLockedTempFile(t *testing.T) {
	s, _ := newTestStore(t)
	const key = "stalledsave01"
	save(t, s, key, `{"v":1}`)
	removed, err := gcDuringSave(t, s, key, time.Time{}, func(tmpName string) {
		setMtime(t, tmpName, time.Now().Add(-time.Hour))
	})
	if err != nil || len(removed) != 0 {
		t.Fatalf("stalled save beside gc: %v; gc removed %v", err, removed)
	}
	sess, err := s.Load(context.Background(), key)
	if err != nil || string(sess.JSON) != `{"edited":true}` {
		t.Errorf("after the stalled save: %v %v", sess, err)
	}
	assertNoTempFiles(t, s)
}

// Saves keeping an old mtime racing gc sweeps: every save succeeds.
func TestGCRacingSavesKeepingMtime(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	keys := []string{"racekey00001", "racekey00002", "racekey00003", "racekey00004"}
	old := time.Now().Add(-time.Hour)
	for _, k := range keys {
		save(t, s, k, `{"v":0}`)
		setMtime(t, s.path(k), old)
	}
	stop := make(chan struct{})
	gcDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				gcDone <- nil
				return
			default:
			}
			if _, err := s.removeStaleTemp(ctx, time.Minute, false); err != nil {
				gcDone <- err
				return
			}
		}
	}()
	for i := range 2000 {
		k := keys[i%len(keys)]
		if _, err := s.Save(ctx, k, []byte(`{"v":1}`), store.SaveOptions{KeepExpiry: true}); err != nil {
			t.Errorf("save %d of %s beside gc: %v", i, k, err)
			break
		}
	}
	close(stop)
	if err := <-gcDone; err != nil {
		t.Fatal(err)
	}
	assertNoTempFiles(t, s)
}
