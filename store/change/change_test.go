package change_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
	"github.com/sessionfs/sessionfs/store/filestore"
)

type record struct {
	Op, Key, Before, After, Reason string
	NewKey                         string `json:"new_key"`
	PID                            uint32
	BeforeContent                  json.RawMessage `json:"before_content"`
	AfterContent                   json.RawMessage `json:"after_content"`
}

// fixture is a file store over a fresh directory and an audit log with
// contents, recording changes as asked by a caller with pid 4242.
func fixture(t *testing.T) (*filestore.FileStore, change.Audit, string) {
	t.Helper()
	cd, err := codec.New(codec.Config{SecretKey: []byte("change-test-secret")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := filestore.New(filestore.Config{Dir: t.TempDir(), Codec: cd, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "audit.jsonl")
	lg, err := audit.Open(logPath, audit.Options{Content: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	return st, change.Audit{Log: lg, Caller: func() audit.Caller { return audit.Caller{PID: 4242} }}, logPath
}

func records(t *testing.T, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("record %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// TestSaveRecordsWhatItStored: create, write and rejected write, each
// recorded with the bytes the store reports, and the caller given.
func TestSaveRecordsWhatItStored(t *testing.T) {
	st, a, logPath := fixture(t)
	ctx := context.Background()
	const key = "changesave01"
	created, err := change.Save(ctx, st, key, []byte(`{"v": 1}`), store.SaveOptions{MustCreate: true}, a)
	if err != nil {
		t.Fatal(err)
	}
	written, err := change.Save(ctx, st, key, []byte(`{"v": 2}`), store.SaveOptions{}, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := change.Save(ctx, st, key, []byte(`[1]`), store.SaveOptions{}, a); !errors.Is(err, codec.ErrInvalidSession) {
		t.Fatalf("invalid save: %v", err)
	}
	recs := records(t, logPath)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3: %+v", len(recs), recs)
	}
	want := []record{
		{Op: "create", Key: key, Before: "", After: audit.Hash(created.Raw), AfterContent: json.RawMessage(`{"v":1}`)},
		{Op: "write", Key: key, Before: audit.Hash(created.Raw), After: audit.Hash(written.Raw),
			BeforeContent: json.RawMessage(`{"v":1}`), AfterContent: json.RawMessage(`{"v":2}`)},
		{Op: "rejected-write", Key: key, Before: audit.Hash(written.Raw), After: audit.Hash(written.Raw),
			BeforeContent: json.RawMessage(`{"v":2}`), AfterContent: json.RawMessage(`[1]`)},
	}
	for i, w := range want {
		r := recs[i]
		if r.Op != w.Op || r.Key != w.Key || r.Before != w.Before || r.After != w.After || r.PID != 4242 ||
			string(r.BeforeContent) != string(w.BeforeContent) || string(r.AfterContent) != string(w.AfterContent) {
			t.Errorf("record %d:\n got  %+v\n want %+v", i, r, w)
		}
	}
	if recs[2].Reason == "" {
		t.Errorf("rejected write without a reason")
	}
}

// TestRemoveRenameRenewRecord: the other changes record the bytes the
// store reports for them.
func TestRemoveRenameRenewRecord(t *testing.T) {
	st, a, logPath := fixture(t)
	ctx := context.Background()
	saved, err := change.Save(ctx, st, "changefrom01", []byte(`{"u": 1}`), store.SaveOptions{}, change.Audit{})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := change.Rename(ctx, st, "changefrom01", "changeto0001", a)
	if err != nil || string(moved.Raw) != string(saved.Raw) {
		t.Fatalf("rename: %v", err)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := change.Renew(ctx, st, "changeto0001", at, moved.Version, a); err != nil {
		t.Fatal(err)
	}
	if _, err := change.Renew(ctx, st, "changeto0001", at, moved.Version, a); !errors.Is(err, store.ErrConflict) {
		t.Errorf("renew of an old version: %v, want ErrConflict (and no record)", err)
	}
	r, err := change.Remove(ctx, st, "changeto0001", func(store.Entry) bool { return true }, audit.OpDelete, "", a)
	if err != nil || !r.Removed {
		t.Fatalf("remove: %+v %v", r, err)
	}
	h := audit.Hash(saved.Raw)
	recs := records(t, logPath)
	want := []record{
		{Op: "rename", Key: "changefrom01", NewKey: "changeto0001", Before: h, After: h},
		{Op: "touch", Key: "changeto0001", Before: h, After: h},
		{Op: "delete", Key: "changeto0001", Before: h},
	}
	if len(recs) != len(want) {
		t.Fatalf("records %+v, want %d", recs, len(want))
	}
	for i, w := range want {
		g := recs[i]
		if g.Op != w.Op || g.Key != w.Key || g.NewKey != w.NewKey || g.Before != w.Before || g.After != w.After {
			t.Errorf("record %d:\n got  %+v\n want %+v", i, g, w)
		}
	}
}

// TestLogFailed: a record that cannot be written is handed to LogFailed
// when set (the change stands as done), else returned as ErrNotLogged.
func TestLogFailed(t *testing.T) {
	st, a, _ := fixture(t)
	a.Log.Close()
	ctx := context.Background()
	if _, err := change.Save(ctx, st, "notlogged001", []byte(`{}`), store.SaveOptions{}, a); !errors.Is(err, change.ErrNotLogged) {
		t.Errorf("save with a closed log: %v, want ErrNotLogged", err)
	}
	var failed []audit.Op
	a.LogFailed = func(rec audit.Record, err error) { failed = append(failed, rec.Op) }
	if _, err := change.Save(ctx, st, "notlogged002", []byte(`{}`), store.SaveOptions{}, a); err != nil {
		t.Errorf("save with LogFailed: %v", err)
	}
	if _, err := change.Save(ctx, st, "notlogged002", []byte(`[`), store.SaveOptions{}, a); !errors.Is(err, codec.ErrInvalidSession) {
		t.Errorf("refused save with LogFailed: %v, want the refusal", err)
	}
	if len(failed) != 2 || failed[0] != audit.OpCreate || failed[1] != audit.OpRejectedWrite {
		t.Errorf("LogFailed saw %v", failed)
	}
}

// unsigned is a store whose sessions are not signed.
type unsigned struct{ store.Store }

func (unsigned) Describe() store.Description { return store.Description{Backend: "cache"} }

func TestRekeyNeedsSignedSessions(t *testing.T) {
	st, _, _ := fixture(t)
	if _, err := change.Rekey(context.Background(), unsigned{st}, change.RekeyOptions{}, change.Audit{}, nil); err == nil {
		t.Errorf("rekey of an unsigned store succeeded")
	}
}
