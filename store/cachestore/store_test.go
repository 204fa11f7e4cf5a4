package cachestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/cachestore/cachetest"
	"github.com/sessionfs/sessionfs/store/change"
)

// countingCodec counts decodes, to see what the metadata cache spares.
type countingCodec struct {
	*codec.CacheCodec
	decodes atomic.Int64
}

func (c *countingCodec) Decode(value []byte, flags uint32) ([]byte, codec.CacheValueInfo, error) {
	c.decodes.Add(1)
	return c.CacheCodec.Decode(value, flags)
}

// storeBackend is one server and the cache client whose values it holds.
type storeBackend struct {
	name   string
	url    string
	client codec.CacheClient
}

func storeBackends(t *testing.T) []storeBackend {
	r, m := cachetest.Redis(t), cachetest.Memcached(t)
	return []storeBackend{
		{"redis", r.URL(), codec.ClientRedisCache},
		{"django-redis", r.SocketURL(), codec.ClientDjangoRedis},
		{"memcached", m.URL(), codec.ClientMemcached},
	}
}

func newStore(t *testing.T, b storeBackend, mod func(*Config)) (*Store, *countingCodec) {
	t.Helper()
	c := open(t, b.url, mod)
	cc, err := codec.NewCacheCodec(codec.CacheValueOptions{Client: b.client})
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingCodec{CacheCodec: cc}
	s, err := New(c, StoreConfig{Codec: cc, RecheckAfter: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.codec = counting
	return s, counting
}

func mustSave(t *testing.T, s *Store, key, js string, opt store.SaveOptions) store.Saved {
	t.Helper()
	saved, err := s.Save(context.Background(), key, []byte(js), opt)
	if err != nil {
		t.Fatalf("save %s %s: %v", key, js, err)
	}
	return saved
}

// The contract's promises, on each server: what Save, Stat, Load, Scan,
// RemoveIf, Renew and Rename return and store.
func TestStoreContract(t *testing.T) {
	ctx := context.Background()
	for _, b := range storeBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b, nil)
			const k1, k2, k3 = "contract00000000000000000000001", "contract00000000000000000000002", "contract00000000000000000000003"
			start := time.Now()

			// Create.
			created := mustSave(t, s, k1, `{"_auth_user_id": "42", "cart": [1, 2]}`, store.SaveOptions{MustCreate: true})
			if !created.Created || created.Version.IsZero() || created.UserID != "42" || string(created.JSON) != `{"_auth_user_id":"42","cart":[1,2]}` {
				t.Fatalf("created: %+v %s", created.Meta, created.JSON)
			}
			raw, v, err := s.ReadRaw(ctx, k1)
			if err != nil || !bytes.Equal(raw, created.Raw) || v != created.Version || created.RawSize != int64(len(raw)) {
				t.Fatalf("ReadRaw: %x %v %v; saved %x", raw, v, err, created.Raw)
			}
			near(t, "a new session's expiry", created.Expiry, start.Add(store.DefaultCookieAge), 2*time.Second)
			near(t, "a new session's mtime", created.ModTime, start, 2*time.Second)
			if _, err := s.Save(ctx, k1, []byte(`{}`), store.SaveOptions{MustCreate: true}); !errors.Is(err, store.ErrExists) {
				t.Fatalf("must-create of a taken key: %v", err)
			}
			pretty, _ := codec.Pretty(created.JSON)
			meta, err := s.Stat(ctx, k1)
			if err != nil || meta.Version != created.Version || meta.Size != int64(len(pretty)) || meta.UserID != "42" ||
				meta.Info.Serializer != codec.SerializerPickle || meta.Expiry != created.Expiry || meta.ModTime != created.ModTime {
				t.Fatalf("Stat: %+v %v; saved %+v", meta, err, created.Meta)
			}
			sess, err := s.Load(ctx, k1)
			if err != nil || string(sess.JSON) != string(created.JSON) || sess.Meta != meta {
				t.Fatalf("Load: %+v %v", sess, err)
			}

			// An edit with IfMatch, keeping the TTL, reporting what it replaced.
			edited := mustSave(t, s, k1, `{"_auth_user_id": "42", "cart": [1, 2, 3]}`,
				store.SaveOptions{IfMatch: created.Version, KeepExpiry: true, ReportBefore: true})
			if edited.Created || !bytes.Equal(edited.Before, created.Raw) || string(edited.BeforeJSON) != string(created.JSON) ||
				edited.Version == created.Version {
				t.Fatalf("edit: %+v before %x %s", edited.Meta, edited.Before, edited.BeforeJSON)
			}
			near(t, "an edit's expiry", edited.Expiry, created.Expiry, time.Second)
			if _, err := s.Save(ctx, k1, []byte(`{"lost": 1}`), store.SaveOptions{IfMatch: created.Version}); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("a stale IfMatch: %v", err)
			}
			// An edit of _session_expiry takes Django's new age; without
			// KeepExpiry, a save renews as Django's does.
			short := mustSave(t, s, k1, `{"_auth_user_id": "42", "_session_expiry": 300}`, store.SaveOptions{IfMatch: edited.Version, KeepExpiry: true})
			near(t, "expiry after _session_expiry changed", short.Expiry, time.Now().Add(300*time.Second), 2*time.Second)
			near(t, "mtime after _session_expiry changed", short.ModTime, time.Now(), 2*time.Second)
			kept := mustSave(t, s, k1, `{"_auth_user_id": "42", "_session_expiry": 300, "x": 1}`, store.SaveOptions{KeepExpiry: true})
			near(t, "expiry kept", kept.Expiry, short.Expiry, time.Second)
			renewed := mustSave(t, s, k1, `{"_auth_user_id": "42", "x": 2}`, store.SaveOptions{})
			near(t, "expiry of a plain save", renewed.Expiry, time.Now().Add(store.DefaultCookieAge), 2*time.Second)

			// Without options a missing key is created.
			if saved := mustSave(t, s, k2, `{"_auth_user_id": "7"}`, store.SaveOptions{}); !saved.Created {
				t.Fatalf("a plain save of a new key: %+v", saved)
			}
			// Gone: an IfMatch save is ErrNotFound.
			if _, err := s.Save(ctx, k3, []byte(`{}`), store.SaveOptions{IfMatch: renewed.Version}); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("IfMatch of a missing key: %v", err)
			}
			// A dry run stores nothing.
			dry := mustSave(t, s, k3, `{"a": 1}`, store.SaveOptions{DryRun: true})
			if dry.Raw == nil || !dry.Version.IsZero() {
				t.Fatalf("dry run: %+v", dry)
			}
			if _, err := s.Stat(ctx, k3); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("after a dry run: %v", err)
			}

			// Scan, ScanUser, Stats.
			var listed []string
			err = s.Scan(ctx, func(e store.Entry) error {
				if e.Err != nil || s.Expired(e, time.Now()) {
					t.Errorf("entry %+v", e)
				}
				listed = append(listed, e.Key+"/"+e.UserID)
				return nil
			})
			if err != nil || len(listed) != 2 {
				t.Fatalf("scan: %v %v", listed, err)
			}
			var mine []string
			if err := s.ScanUser(ctx, "7", func(e store.Entry) error { mine = append(mine, e.Key); return nil }); err != nil || len(mine) != 1 || mine[0] != k2 {
				t.Fatalf("ScanUser: %v %v", mine, err)
			}
			st, err := s.Stats(ctx, nil)
			if err != nil || st.Sessions != 2 || st.LoggedIn != 2 || st.LoggedInUsers != 2 || st.Expired != 0 || st.Invalid != 0 ||
				st.Serializers["pickle"] != 2 || len(st.Formats) != 0 || len(st.Keys) != 0 || st.FallbackOnly() != 0 {
				t.Fatalf("stats: %+v %v", st, err)
			}
			if res, err := s.ClearExpired(ctx, store.ClearOptions{}, nil); err != nil || res.Scanned != 0 || len(res.Removed) != 0 {
				t.Fatalf("ClearExpired: %+v %v", res, err)
			}

			// Renew: as a Django save at that time; ifMatch honoured.
			cur, _ := s.Stat(ctx, k2)
			if _, err := s.Renew(ctx, k2, time.Now(), created.Version); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("renew with a stale version: %v", err)
			}
			at := time.Now().Add(-time.Hour)
			ren, err := s.Renew(ctx, k2, at, cur.Version)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "renewed expiry", ren.Expiry, at.Add(store.DefaultCookieAge), 2*time.Second)
			near(t, "renewed mtime", ren.ModTime, at, 2*time.Second)
			if again, _ := s.Stat(ctx, k2); again.Expiry != ren.Expiry || again.Version != ren.Version || string(ren.Raw) != string(ren.Before) {
				t.Fatalf("after renew: %+v, renew said %+v", again, ren.Meta)
			}

			// Rename keeps bytes and TTL.
			if _, err := s.Rename(ctx, k2, k1); !errors.Is(err, store.ErrExists) {
				t.Fatalf("rename onto a taken key: %v", err)
			}
			moved, err := s.Rename(ctx, k2, k3)
			if err != nil || !moved.Created || moved.Key != k3 {
				t.Fatalf("rename: %+v %v", moved, err)
			}
			near(t, "renamed expiry", moved.Expiry, ren.Expiry, time.Second)
			if raw, _, _ := s.ReadRaw(ctx, k3); !bytes.Equal(raw, moved.Raw) {
				t.Fatal("renamed bytes differ")
			}
			if _, err := s.Stat(ctx, k2); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the old key after rename: %v", err)
			}

			// RemoveIf: judged, dry run, removed, then nothing.
			r, err := s.RemoveIf(ctx, k3, false, func(e store.Entry) bool { return e.UserID == "8" })
			if err != nil || r.Removed || r.Raw != nil || r.UserID != "7" {
				t.Fatalf("RemoveIf refused: %+v %v", r, err)
			}
			r, err = s.RemoveIf(ctx, k3, true, func(store.Entry) bool { return true })
			if err != nil || !r.Removed || r.Raw == nil {
				t.Fatalf("dry run: %+v %v", r, err)
			}
			r, err = s.RemoveIf(ctx, k3, false, func(store.Entry) bool { return true })
			if err != nil || !r.Removed || !bytes.Equal(r.Raw, moved.Raw) || string(r.JSON) != `{"_auth_user_id":"7"}` {
				t.Fatalf("RemoveIf: %+v %v", r, err)
			}
			if r, err := s.RemoveIf(ctx, k3, false, func(store.Entry) bool { return true }); err != nil || r.Removed {
				t.Fatalf("RemoveIf of nothing: %+v %v", r, err)
			}

			// An edit that gives a non-positive age deletes, as Django does;
			// a new session that would be expired at once is refused.
			gone, err := s.Save(ctx, k1, []byte(`{"_session_expiry": -1}`), store.SaveOptions{KeepExpiry: true, ReportBefore: true})
			if err != nil || !gone.Version.IsZero() || gone.Raw != nil || gone.Expiry != store.AlwaysExpired || gone.Before == nil {
				t.Fatalf("an expiring edit: %+v %v", gone, err)
			}
			if _, err := s.Stat(ctx, k1); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("after an expiring edit: %v", err)
			}
			if _, err := s.Save(ctx, k1, []byte(`{"_session_expiry": "2001-01-01T00:00:00"}`), store.SaveOptions{MustCreate: true}); !errors.Is(err, codec.ErrInvalidSession) {
				t.Fatalf("an expired new session: %v", err)
			}

			d := s.Describe()
			if d.Backend != "cache" || d.Signed || d.Dir != "" || !d.UnguardedWriters || d.RecheckAfter <= 0 || !strings.Contains(d.Location, "django.contrib.sessions.cache") {
				t.Errorf("Describe: %+v", d)
			}
			if _, err := change.Rekey(ctx, s, change.RekeyOptions{}, change.Audit{}, nil); err == nil || !strings.Contains(err.Error(), "does not sign") {
				t.Errorf("rekey of unsigned sessions: %v", err)
			}
			for _, bad := range []string{"short", "../../etc/passwd", "UPPER0000000"} {
				_, err1 := s.Save(ctx, bad, []byte(`{}`), store.SaveOptions{})
				_, err2 := s.Stat(ctx, bad)
				_, err3 := s.RemoveIf(ctx, bad, false, func(store.Entry) bool { return true })
				_, err4 := s.Rename(ctx, k2, bad)
				for _, err := range []error{err1, err2, err3, err4} {
					if !errors.Is(err, store.ErrInvalidKey) {
						t.Errorf("key %q: %v", bad, err)
					}
				}
			}
		})
	}
}

// What cannot be written exactly is refused, and what is stored stays
// byte for byte; so is what would be larger than a read accepts.
func TestStoreRefusesWithoutWriting(t *testing.T) {
	ctx := context.Background()
	for _, b := range storeBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b, func(c *Config) { c.MaxValueSize = 4096 })
			const k = "refused0000000000000000000000001"
			saved := mustSave(t, s, k, `{"a": 1}`, store.SaveOptions{})
			for _, tc := range []struct {
				js   string
				want error
			}{
				{`{"a": {"$object": {"class": "os.system", "args": ["true"]}}}`, codec.ErrUnsupportedValue},
				{`{"a": 1, "a": 2}`, codec.ErrInvalidSession},
				{`[1]`, codec.ErrInvalidSession},
				{`{"big": "` + strings.Repeat("x", 5000) + `"}`, store.ErrTooLarge},
				{`{"_session_expiry": "soon"}`, codec.ErrInvalidSession},
			} {
				for _, opt := range []store.SaveOptions{{}, {IfMatch: saved.Version}, {KeepExpiry: true}} {
					if _, err := s.Save(ctx, k, []byte(tc.js), opt); !errors.Is(err, tc.want) {
						t.Errorf("%.60s: %v, want %v", tc.js, err, tc.want)
					}
				}
				raw, v, err := s.ReadRaw(ctx, k)
				if err != nil || !bytes.Equal(raw, saved.Raw) || v != saved.Version {
					t.Fatalf("after refusing %.60s: %x %v", tc.js, raw, err)
				}
			}
			if _, err := s.Save(ctx, k, []byte(`{}`), store.SaveOptions{Encode: &codec.EncodeOptions{}}); !errors.Is(err, codec.ErrUnsupportedValue) {
				t.Errorf("an encoding option: %v", err)
			}
		})
	}
}

// A second listing of unchanged sessions decodes nothing; a changed one
// is decoded again; a renewal that keeps the value keeps its entry.
func TestStoreMetadataCache(t *testing.T) {
	ctx := context.Background()
	for _, b := range storeBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, cc := newStore(t, b, nil)
			for i := range 40 {
				mustSave(t, s, fmt.Sprintf("metacache%023d", i), fmt.Sprintf(`{"_auth_user_id": "u-%d", "n": %d}`, i%3, i), store.SaveOptions{})
			}
			s.meta = newMetaCache() // as a fresh process
			count := func() (int, int64) {
				before := cc.decodes.Load()
				n := 0
				if err := s.Scan(ctx, func(e store.Entry) error {
					if e.Err != nil || !strings.HasPrefix(e.UserID, "u-") {
						t.Errorf("entry %+v", e)
					}
					n++
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				return n, cc.decodes.Load() - before
			}
			if n, d := count(); n != 40 || d != 40 {
				t.Fatalf("first listing: %d entries, %d decodes", n, d)
			}
			if n, d := count(); n != 40 || d != 0 {
				t.Fatalf("second listing: %d entries, %d decodes", n, d)
			}
			const k = "metacache00000000000000000000005"
			meta, _ := s.Stat(ctx, k)
			if _, err := s.Renew(ctx, k, time.Now(), meta.Version); err != nil {
				t.Fatal(err)
			}
			mustSave(t, s, "metacache00000000000000000000006", `{"_auth_user_id": "u-changed"}`, store.SaveOptions{})
			s.meta.put("unrelated", Version{'r', 1}, facts{}, 0)
			if n, d := count(); n != 40 || d > 1 {
				t.Fatalf("after a renewal and a save: %d entries, %d decodes", n, d)
			}
			if _, ok := s.meta.get("unrelated", Version{'r', 1}, 0); ok {
				t.Error("a complete listing kept an entry it did not see")
			}
			before := cc.decodes.Load()
			if m, err := s.Stat(ctx, "metacache00000000000000000000007"); err != nil || m.UserID != "u-1" || cc.decodes.Load() != before {
				t.Fatalf("Stat of an unchanged session decoded it: %+v %v", m, err)
			}
		})
	}
}

// A key whose TTL ends while an edit of it is in flight: the edit fails
// with ErrNotFound and writes nothing.
func TestStoreKeyExpiresDuringEdit(t *testing.T) {
	ctx := context.Background()
	for _, b := range storeBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b, nil)
			const k = "expiring0000000000000000000000001"
			enc, err := s.encode(k, []byte(`{"_auth_user_id": "1"}`))
			if err != nil {
				t.Fatal(err)
			}
			ttl, wait := 200*time.Millisecond, 400*time.Millisecond
			if b.client == codec.ClientMemcached { // whole seconds
				ttl, wait = time.Second, 2100*time.Millisecond
			}
			it, err := s.c.Add(ctx, k, enc.value, enc.flags, ttl)
			if err != nil {
				t.Fatal(err)
			}
			sess, err := s.Load(ctx, k)
			if err != nil || sess.Version != store.Version(it.Version) {
				t.Fatalf("load: %+v %v", sess, err)
			}
			time.Sleep(wait)
			for _, opt := range []store.SaveOptions{{IfMatch: sess.Version}, {IfMatch: sess.Version, KeepExpiry: true}} {
				_, err := s.Save(ctx, k, []byte(`{"_auth_user_id": "1", "edited": true}`), opt)
				if !errors.Is(err, store.ErrNotFound) || !errors.Is(err, store.ErrConflict) {
					t.Fatalf("edit of an expired key: %v", err)
				}
			}
			if _, err := s.Renew(ctx, k, time.Now(), sess.Version); !errors.Is(err, store.ErrNotFound) || !errors.Is(err, store.ErrConflict) {
				t.Fatalf("renew of an expired key: %v", err)
			}
			if _, err := s.Rename(ctx, k, "expiring0000000000000000000000002"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("rename of an expired key: %v", err)
			}
			if _, err := s.Stat(ctx, k); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("stat: %v", err)
			}
		})
	}
}
