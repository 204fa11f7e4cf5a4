package harness

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The worked example of spec section 3.3, which Django 3.2, 4.2 and 5.2 all
// decode (and would write at timestamp 1700000000).
const (
	specSecret  = "vector-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
	specEncoded = "eyJjYXJ0IjpbMSwyLDNdLCJ0aGVtZSI6ImRhcmsifQ:1r31eq:USyIgI8DQLfqWZs0O-ovW55XMJcYl7haLDAt_o06kGo"
	specDecoded = `{"cart":[1,2,3],"theme":"dark"}`
)

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("bad JSON %s: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestInfoAndDecode(t *testing.T) {
	for _, v := range Versions {
		t.Run(v, func(t *testing.T) {
			dj := RequireDjango(t, v)
			var info Info
			dj.Call(t, Settings{SecretKey: specSecret}, OpInfo, nil, &info)
			if info.Version != dj.Full || !strings.HasPrefix(info.Version, v+".") {
				t.Errorf("info says Django %q, probe said %q, want %s.x", info.Version, dj.Full, v)
			}
			var got []DecodeResult
			tampered := specEncoded[:len(specEncoded)-1] + "p" // spec 9.2: padding bits
			dj.Call(t, Settings{SecretKey: specSecret}, OpDecode, []string{specEncoded, tampered}, &got)
			if len(got) != 2 {
				t.Fatalf("got %d results, want 2", len(got))
			}
			if !got[0].OK || compact(t, got[0].Data) != specDecoded {
				t.Errorf("decode(spec example) = %+v, want %s", got[0], specDecoded)
			}
			if !got[1].OK || compact(t, got[1].Data) != "{}" {
				t.Errorf("decode(tampered) = %+v, want ok {}", got[1])
			}
		})
	}
}

func TestStoreClassChangesSalt(t *testing.T) {
	dj := RequireDjango(t, "3.2")
	s := Settings{SecretKey: specSecret, StoreClass: "MyStore"}
	var enc []string
	dj.Call(t, s, OpEncode, []json.RawMessage{json.RawMessage(specDecoded)}, &enc)
	var mine, plain []DecodeResult
	dj.Call(t, s, OpDecode, enc, &mine)
	dj.Call(t, Settings{SecretKey: specSecret}, OpDecode, enc, &plain)
	if compact(t, mine[0].Data) != specDecoded {
		t.Errorf("MyStore cannot read its own session: %+v", mine[0])
	}
	if compact(t, plain[0].Data) != "{}" {
		t.Errorf("SessionStore read a MyStore session (salts equal?): %+v", plain[0])
	}
}

func TestFileBackendOps(t *testing.T) {
	for _, v := range Versions {
		t.Run(v, func(t *testing.T) {
			dj := RequireDjango(t, v)
			dir := t.TempDir()
			s := Settings{SecretKey: "k-" + v, SessionFilePath: dir, CookieName: "sid"}
			data := json.RawMessage(`{"b":1,"a":[2]}`)
			var keys []string
			dj.Call(t, s, OpCreate, []json.RawMessage{data}, &keys)
			if len(keys) != 1 || len(keys[0]) != 32 {
				t.Fatalf("create gave keys %q", keys)
			}
			if _, err := os.Stat(filepath.Join(dir, "sid"+keys[0])); err != nil {
				t.Fatalf("create wrote no file: %v", err)
			}
			var saved []SaveResult
			dj.Call(t, s, OpSave, []SaveItem{
				{Key: keys[0], Data: json.RawMessage(`{"x":"y"}`)},
				{Key: keys[0], Data: data, MustCreate: true},
				{Key: "abcdefgh12345678", Data: data}, // no file: UpdateError
			}, &saved)
			if !saved[0].OK || saved[1].Error != "CreateError" || saved[2].Error != "UpdateError" {
				t.Errorf("save results %+v, want ok, CreateError, UpdateError", saved)
			}
			var loaded []LoadResult
			dj.Call(t, s, OpLoad, []string{keys[0], "nosuchkey1234567"}, &loaded)
			if !loaded[0].OK || !loaded[0].KeyKept || compact(t, loaded[0].Data) != `{"x":"y"}` {
				t.Errorf("load(saved) = %+v", loaded[0])
			}
			if loaded[1].Key != nil || loaded[1].Existed || compact(t, loaded[1].Data) != "{}" {
				t.Errorf("load(missing) = %+v, want key dropped, {}", loaded[1])
			}
			var exists []bool
			dj.Call(t, s, OpExists, []string{keys[0], "nosuchkey1234567"}, &exists)
			if !exists[0] || exists[1] {
				t.Errorf("exists = %v, want [true false]", exists)
			}
			// An mtime far in the past expires the session for clear_expired.
			old := time.Now().Add(-30 * 24 * time.Hour)
			if err := os.Chtimes(filepath.Join(dir, "sid"+keys[0]), old, old); err != nil {
				t.Fatal(err)
			}
			dj.Call(t, s, OpClearExpired, nil, nil)
			dj.Call(t, s, OpExists, []string{keys[0]}, &exists)
			if exists[0] {
				t.Errorf("clear_expired kept a session 30 days old")
			}
			dj.Call(t, s, OpCreate, []json.RawMessage{data}, &keys)
			dj.Call(t, s, OpDelete, keys, nil)
			if _, err := os.Stat(filepath.Join(dir, "sid"+keys[0])); !os.IsNotExist(err) {
				t.Errorf("delete left the file: %v", err)
			}
		})
	}
}

func TestLoops(t *testing.T) {
	dj := RequireDjango(t, "3.2")
	dir := t.TempDir()
	s := Settings{SecretKey: "k", SessionFilePath: dir}
	key := "loopkey0123456789"
	a, b := json.RawMessage(`{"v":"a"}`), json.RawMessage(`{"v":"b"}`)
	var saved []SaveResult
	dj.Call(t, s, OpSave, []SaveItem{{Key: key, Data: a, MustCreate: true}}, &saved)
	stop := filepath.Join(t.TempDir(), "stop")
	ready := filepath.Join(t.TempDir(), "ready")
	done := make(chan error, 1)
	var saves LoopResult
	go func() {
		done <- dj.Run(context.Background(), s, OpLoopSave, LoopSaveRequest{
			Sessions: []SaveItem{{Key: key, Data: b}, {Key: key, Data: a}}, Seconds: 30, StopFile: stop, ReadyFile: ready,
		}, &saves)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("loop_save never became ready")
		}
	}
	var loads LoopResult
	dj.Call(t, s, OpLoopLoad, LoopLoadRequest{
		Keys: []string{key}, Want: map[string][]json.RawMessage{key: {a, b}}, Seconds: 0.5,
	}, &loads)
	if err := os.WriteFile(stop, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if saves.Iterations == 0 || saves.Errors != 0 {
		t.Errorf("loop_save: %+v", saves)
	}
	if loads.Iterations == 0 || loads.Errors != 0 {
		t.Errorf("loop_load: %+v", loads)
	}
	t.Logf("django saved %d times while django loaded %d times", saves.Iterations, loads.Iterations)
}
