package filestore

import (
	"bytes"
	"context"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// Keys of the pickled sessions rekey tests add to opsFixture.
const (
	keyPickled = "pickledplain1"
	keyTuple   = "pickledtuple1"
)

func TestRekey(t *testing.T) {
	s, _ := opsFixture(t)
	ctx := context.Background()
	pickle := storeWithEncode(t, s, codec.EncodeOptions{Serializer: codec.SerializerPickle})
	save(t, pickle, keyPickled, `{"a": 1}`)
	save(t, pickle, keyTuple, `{"t": {"$tuple": [1, 2]}}`)

	type state struct {
		json  string
		mtime time.Time
	}
	states := map[string]state{}
	for _, key := range []string{keyLogin, keySmall, keyLegacy42, keyPickled} {
		sess, err := s.Load(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		states[key] = state{string(sess.JSON), sess.ModTime}
	}
	wantResult := change.RekeyResult{
		Scanned: 10, Rekeyed: 4, Current: 2,
		Skipped: map[string]int{"invalid: bad-signature": 1, "invalid: corrupt": 1, "expired": 1, "values need pickle": 1},
	}
	target := codec.EncodeOptions{Format: codec.FormatSigned, Serializer: codec.SerializerJSON, Algorithm: codec.SHA256}

	snap := snapshot(t, s.cfg.Dir)
	dry, err := change.Rekey(ctx, s, change.RekeyOptions{Target: target, DryRun: true}, change.Audit{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertSameSnapshot(t, snap, snapshot(t, s.cfg.Dir))
	if !reflect.DeepEqual(dry, wantResult) {
		t.Errorf("dry run: %+v, want %+v", dry, wantResult)
	}

	items := map[string]change.RekeyItem{}
	res, err := change.Rekey(ctx, s, change.RekeyOptions{Target: target}, change.Audit{}, func(it change.RekeyItem) { items[it.Key] = it })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, wantResult) {
		t.Errorf("rekey: %+v, want %+v", res, wantResult)
	}
	wantWhy := map[string]string{
		keyLogin: "fallback 1", keySmall: "fallback 1",
		keyLegacy42: "format legacy", keyPickled: "serializer pickle",
	}
	// Only the current key may be needed now: prove it with a codec that
	// has no fallback.
	current, err := codec.New(codec.Config{SecretKey: []byte(rotatedSecret)})
	if err != nil {
		t.Fatal(err)
	}
	for key, why := range wantWhy {
		it := items[key]
		if it.Outcome != change.RekeyDone || it.Why != why {
			t.Errorf("%s: %s (%s), want rekeyed (%s)", key, it.Outcome, it.Why, why)
		}
		data, err := os.ReadFile(s.path(key))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, it.After) || bytes.Equal(it.Before, it.After) {
			t.Errorf("%s: After is not the file's new bytes, or equals Before", key)
		}
		got, info, err := current.Decode(data)
		if err != nil {
			t.Errorf("%s: does not decode with the current key alone: %v", key, err)
			continue
		}
		if info.Format != codec.FormatSigned || info.Serializer != codec.SerializerJSON || info.KeyIndex != 0 {
			t.Errorf("%s: rekeyed to %+v", key, info)
		}
		if string(got) != states[key].json {
			t.Errorf("%s: content changed: %s -> %s", key, states[key].json, got)
		}
		fi, err := os.Stat(s.path(key))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(states[key].mtime) {
			t.Errorf("%s: mtime moved from %v to %v", key, states[key].mtime, fi.ModTime())
		}
	}
	if it := items[keyTuple]; it.Outcome != change.RekeySkipped {
		t.Errorf("%s (a tuple, target json): %s, want skipped", keyTuple, it.Outcome)
	}
	assertNoTempFilesBut(t, s, 1) // the fixture's own leftover
	again, err := change.Rekey(ctx, s, change.RekeyOptions{Target: target}, change.Audit{}, nil)
	if err != nil || again.Rekeyed != 0 || again.Current != 6 {
		t.Errorf("second rekey: %+v %v, want nothing left to do", again, err)
	}
}

// rewritingCodec replaces the session file (as a Django save would) right
// when Rekey encodes it: between Rekey's read and its write.
type rewritingCodec struct {
	sessionCodec
	s   *FileStore
	key string
}

func (c *rewritingCodec) Encode(sessionJSON []byte, opt codec.EncodeOptions) ([]byte, error) {
	data, err := c.sessionCodec.Encode(sessionJSON, opt)
	if c.key != "" {
		key := c.key
		c.key = ""
		inner, err := New(c.s.cfg) // another writer over the same directory
		if err != nil {
			return nil, err
		}
		if _, err := inner.Save(context.Background(), key, []byte(`{"django": "saved meanwhile"}`), store.SaveOptions{}); err != nil {
			return nil, err
		}
	}
	return data, err
}

func TestRekeyConflictKeepsDjangosSave(t *testing.T) {
	s, _ := newTestStore(t, func(c *Config) {
		cd, err := codec.New(codec.Config{SecretKey: []byte(rotatedSecret), FallbackKeys: [][]byte{[]byte(vectorSecret)}})
		if err != nil {
			t.Fatal(err)
		}
		c.Codec = cd
	})
	copyVector(t, s, keySmall)
	s.codec = &rewritingCodec{sessionCodec: s.codec, s: s, key: keySmall}
	var item change.RekeyItem
	res, err := change.Rekey(context.Background(), s, change.RekeyOptions{}, change.Audit{}, func(it change.RekeyItem) { item = it })
	if err != nil {
		t.Fatal(err)
	}
	if res.Conflicts != 1 || item.Outcome != change.RekeyConflict || item.Err == nil {
		t.Errorf("rekey racing a save: %+v, item %+v", res, item)
	}
	sess, err := s.Load(context.Background(), keySmall)
	if err != nil || string(sess.JSON) != `{"django":"saved meanwhile"}` {
		t.Errorf("after the conflict: %s %v, want Django's save kept", sess.JSON, err)
	}
}

// assertNoTempFilesBut fails unless exactly n temp files are left.
func assertNoTempFilesBut(t *testing.T, s *FileStore, n int) {
	t.Helper()
	var names []string
	if err := s.TempFiles(context.Background(), func(tf TempFile) error {
		names = append(names, tf.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != n {
		t.Errorf("temp files %v, want %d", names, n)
	}
}
