package cachestore_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/cachestore"
	"github.com/sessionfs/sessionfs/store/cachestore/cachetest"
	"github.com/sessionfs/sessionfs/store/change"
)

// storeSites are the sites the session store is proven against: django-redis
// with zlib, a prefix and a version; Django's own RedisCache with a prefix
// and a version; a memcached client. Their prefixes are theirs alone.
func storeSites() []djangoCache {
	return []djangoCache{
		{name: "3.2 django-redis zlib", django: "3.2", backend: "django_redis.cache.RedisCache", server: "redis", db: 6, prefix: "zstore", version: 5,
			options: map[string]any{"COMPRESSOR": "django_redis.compressors.zlib.ZlibCompressor"}, compressor: codec.CompressZlib},
		{name: "5.2 RedisCache", django: "5.2", backend: "django.core.cache.backends.redis.RedisCache", server: "redis", db: 7, prefix: "st5", version: 3},
		{name: "3.2 PyMemcacheCache", django: "3.2", backend: "django.core.cache.backends.memcached.PyMemcacheCache", server: "memcached",
			prefix: "pymst", version: 4},
	}
}

// openSite starts (or shares) the site's server and returns Django's side
// and the session store over the same cache.
func openSite(t *testing.T, cfg djangoCache, recheck time.Duration) (*site, *cachestore.Store, cachestore.Client, *cachetest.Server) {
	t.Helper()
	cfg.prefix += cachetest.Prefix(t) // the test's own sessions only
	var srv *cachetest.Server
	var location, url string
	if cfg.server == "redis" {
		srv = cachetest.Redis(t)
		location = fmt.Sprintf("redis://%s/%d", srv.Addr, cfg.db)
		url = location
	} else {
		srv = cachetest.Memcached(t)
		location, url = srv.Addr, srv.URL()
	}
	loc, err := cachestore.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cachestore.Open(cachestore.Config{Location: loc, KeyPrefix: cfg.prefix, Version: cfg.version, Metadump: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	client, err := codec.ParseCacheClient(cfg.backend)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := codec.NewCacheCodec(codec.CacheValueOptions{Client: client, Compressor: cfg.compressor})
	if err != nil {
		t.Fatal(err)
	}
	st, err := cachestore.New(c, cachestore.StoreConfig{Codec: cc, RecheckAfter: recheck})
	if err != nil {
		t.Fatal(err)
	}
	return newSite(t, cfg, location), st, c, srv
}

func near(t *testing.T, what string, got, want time.Time, slack time.Duration) {
	t.Helper()
	if d := got.Sub(want); d < -slack || d > slack {
		t.Errorf("%s: %v, want %v (±%v)", what, got, want, slack)
	}
}

// Django writes, the store lists and reads exactly that (with the TTL as
// expiry and the save time as mtime); the store edits, renews, removes,
// renames and creates, and Django's load() agrees with each; an edit keeps
// the TTL; Django's own save afterwards keeps the edit.
func TestStoreDjangoInterop(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range storeSites() {
		t.Run(cfg.name, func(t *testing.T) {
			dj, st, c, _ := openSite(t, cfg, 0)
			login := map[string]any{"_auth_user_id": "42", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
				"_auth_user_hash": "0123456789abcdef0123456789abcdef01234567", "cart": []int{1, 2, 3}}
			created := time.Now()
			var made struct {
				Keys     []string
				Sessions []json.RawMessage
			}
			dj.call("create_and_load", []map[string]any{
				{"data": login},                                    // A: edited keeping the TTL, then saved by Django
				{"data": login, "rich": true},                      // B: tagged values, edited
				{"data": map[string]any{"k": "v"}, "expiry": 300},  // C: _session_expiry changed
				{"data": map[string]any{"k": "v"}, "expiry": "1d"}, // D: renewed
				{"data": map[string]any{"_auth_user_id": "9"}},     // E: removed
				{"data": map[string]any{"_auth_user_id": "8"}},     // F: renamed
			}, &made)
			keys := made.Keys
			A, B, C, D, E, F := keys[0], keys[1], keys[2], keys[3], keys[4], keys[5]
			ttls := []time.Duration{store.DefaultCookieAge, store.DefaultCookieAge, 300 * time.Second, 24 * time.Hour,
				store.DefaultCookieAge, store.DefaultCookieAge}

			// What Django wrote, as the store lists and loads it.
			entries := map[string]store.Entry{}
			if err := st.Scan(ctx, func(e store.Entry) error { entries[e.Key] = e; return nil }); err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(keys) {
				t.Fatalf("listed %d sessions, Django made %d", len(entries), len(keys))
			}
			for i, k := range keys {
				e, ok := entries[k]
				if !ok || e.Err != nil {
					t.Fatalf("%s: listed %v, %+v", k, ok, e)
				}
				sess, err := st.Load(ctx, k)
				if err != nil {
					t.Fatalf("load %s: %v", k, err)
				}
				sameSession(t, "Django wrote "+k, sess.JSON, made.Sessions[i])
				pretty, _ := codec.Pretty(sess.JSON)
				if e.Meta != sess.Meta || e.Size != int64(len(pretty)) || e.Info.Serializer != codec.SerializerPickle || e.Expired(time.Now()) {
					t.Errorf("%s: listed %+v, loaded %+v", k, e.Meta, sess.Meta)
				}
				near(t, k+" expiry", e.Expiry, created.Add(ttls[i]), 5*time.Second)
				if i != 3 { // a datetime _session_expiry leaves no trace of the save
					near(t, k+" mtime", e.ModTime, created, 5*time.Second)
				}
			}
			if entries[A].UserID != "42" || entries[E].UserID != "9" {
				t.Errorf("user ids %q %q", entries[A].UserID, entries[E].UserID)
			}
			if cfg.compressor == codec.CompressZlib && !entries[B].Info.Compressed {
				t.Errorf("django-redis's zlib value not seen as compressed: %+v", entries[B].Info)
			}

			// The store's changes.
			load := func(k string) *store.Session {
				t.Helper()
				sess, err := st.Load(ctx, k)
				if err != nil {
					t.Fatalf("load %s: %v", k, err)
				}
				return sess
			}
			addMember := func(js []byte, member string) []byte {
				return append(bytes.TrimSuffix(js, []byte("}")), []byte(","+member+"}")...)
			}
			want := map[string][]byte{}
			a := load(A)
			editedA, err := st.Save(ctx, A, addMember(a.JSON, `"edited_by":"sessionfs ☃"`), store.SaveOptions{IfMatch: a.Version, KeepExpiry: true})
			if err != nil {
				t.Fatal(err)
			}
			near(t, "A's expiry after a kept-expiry edit", editedA.Expiry, a.Expiry, time.Second)
			want[A] = editedA.JSON
			b := load(B)
			editedB, err := st.Save(ctx, B, addMember(b.JSON, `"n":7`), store.SaveOptions{IfMatch: b.Version, KeepExpiry: true})
			if err != nil {
				t.Fatalf("an edit of a session with tagged values: %v", err)
			}
			want[B] = editedB.JSON
			cs := load(C)
			editedC, err := st.Save(ctx, C, []byte(`{"k":"v","_session_expiry":600}`), store.SaveOptions{IfMatch: cs.Version, KeepExpiry: true})
			if err != nil {
				t.Fatal(err)
			}
			near(t, "C's expiry after _session_expiry changed", editedC.Expiry, time.Now().Add(600*time.Second), 3*time.Second)
			want[C] = editedC.JSON
			d := load(D)
			at := time.Now().Add(-time.Hour)
			renewed, err := st.Renew(ctx, D, at, d.Version)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "D's expiry renewed an hour back", renewed.Expiry, d.Expiry, 3*time.Second) // its datetime expiry does not move
			want[D] = d.JSON
			if r, err := st.RemoveIf(ctx, E, false, func(e store.Entry) bool { return e.UserID == "9" }); err != nil || !r.Removed {
				t.Fatalf("remove: %+v %v", r, err)
			}
			want[E] = nil
			F2 := "renamed" + strings.Repeat("0", 25)
			f := load(F)
			moved, err := st.Rename(ctx, F, F2)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "F's expiry after rename", moved.Expiry, f.Expiry, 2*time.Second)
			want[F], want[F2] = nil, f.JSON
			zone := "+00:00"
			if cfg.django == "3.2" {
				zone = "+00:00[pytz.utc]"
			}
			G := "created" + strings.Repeat("0", 25)
			fresh := []byte(`{"_auth_user_id":"7","price":{"$decimal":"1.50"},"tags":{"$set":["a","b"]},"pair":{"$tuple":[1,"x"]},` +
				`"raw":{"$bytes":"AP8="},"at":{"$datetime":"2024-01-02T03:04:05.123456` + zone + `"},"day":{"$date":"2024-02-29"},` +
				`"delta":{"$timedelta":{"days":1,"seconds":2,"microseconds":3}},"big":123456789012345678901234567890,"f":1.5,"n":null}`)
			if _, err := st.Save(ctx, G, fresh, store.SaveOptions{MustCreate: true}); err != nil {
				t.Fatal(err)
			}
			want[G] = fresh

			// Django's view of it all, then Django's own save of A.
			all := []string{A, B, C, D, E, F, F2, G}
			var back []json.RawMessage
			var after [][]json.RawMessage
			var multi []json.RawMessage
			dj.call("multi", []map[string]any{
				{"op": "load", "req": all},
				{"op": "modify", "req": []map[string]any{{"key": A, "set": map[string]any{"later": 1}}}},
				{"op": "load", "req": []string{A}},
			}, &multi)
			if err := json.Unmarshal(multi[0], &back); err != nil {
				t.Fatal(err)
			}
			after = make([][]json.RawMessage, 1)
			if err := json.Unmarshal(multi[2], &after[0]); err != nil {
				t.Fatal(err)
			}
			for i, k := range all {
				if want[k] == nil {
					if string(back[i]) != "null" {
						t.Errorf("Django still loads %s: %s", k, back[i])
					}
					continue
				}
				sameSession(t, "sessionfs changed "+k, want[k], back[i])
			}
			var saved map[string]any
			if err := json.Unmarshal(after[0][0], &saved); err != nil || saved["later"] != 1.0 || saved["edited_by"] != "sessionfs ☃" {
				t.Errorf("Django's save after the edit: %s %v", after[0][0], err)
			}
			it, err := c.Get(ctx, A)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "A's TTL after Django's own save", it.Expiry, time.Now().Add(store.DefaultCookieAge), 5*time.Second)
		})
	}
}

// While Django increments a counter in a session as fast as it can, the
// store increments another with compare-and-set edits: it meets conflicts,
// and never loses one of Django's increments.
func TestStoreEditsBesideDjangoWriters(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range storeSites()[1:] {
		t.Run(cfg.name, func(t *testing.T) {
			dj, st, _, _ := openSite(t, cfg, 0)
			var keys []string
			dj.call("create", []map[string]any{{"data": map[string]any{"_auth_user_id": "5", "dj": 0, "go": 0}}}, &keys)
			k := keys[0]
			const n = 300
			wait := dj.start("incr", map[string]any{"key": k, "member": "dj", "n": n})
			var conflicts, ours int
			done := make(chan error, 1)
			go func() { done <- wait() }()
		loop:
			for {
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
					break loop
				default:
				}
				sess, err := st.Load(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				var v map[string]any
				if err := json.Unmarshal(sess.JSON, &v); err != nil {
					t.Fatal(err)
				}
				v["go"] = v["go"].(float64) + 1
				js, _ := json.Marshal(v)
				_, err = st.Save(ctx, k, js, store.SaveOptions{IfMatch: sess.Version, KeepExpiry: true})
				switch {
				case errors.Is(err, store.ErrConflict):
					conflicts++
				case err != nil:
					t.Fatal(err)
				default:
					ours++
				}
			}
			sess, err := st.Load(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			var v struct{ DJ, GO int }
			json.Unmarshal(bytes.ReplaceAll(bytes.ReplaceAll(sess.JSON, []byte(`"dj"`), []byte(`"DJ"`)), []byte(`"go"`), []byte(`"GO"`)), &v)
			t.Logf("Django %d increments, sessionfs %d edits (%d kept), %d conflicts", v.DJ, ours, v.GO, conflicts)
			if v.DJ != n {
				t.Errorf("Django's counter is %d after %d increments: the store lost some", v.DJ, n)
			}
			if conflicts == 0 || ours == 0 {
				t.Errorf("no overlap to prove anything: %d edits, %d conflicts", ours, conflicts)
			}
		})
	}
}

// A request in flight (it read the session before the revoke and saves it
// after, as Django's cache save does: GET, then SET) puts the session back;
// revoke looks again after the delay, removes it again and reports it.
func TestStoreRevokeUndoneByRequestInFlight(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range storeSites()[1:] {
		t.Run(cfg.name, func(t *testing.T) {
			dj, st, _, _ := openSite(t, cfg, 300*time.Millisecond)
			var keys []string
			dj.call("create", []map[string]any{
				{"data": map[string]any{"_auth_user_id": "42", "n": 1}},
				{"data": map[string]any{"_auth_user_id": "42", "n": 2}},
				{"data": map[string]any{"_auth_user_id": "43"}},
			}, &keys)
			dir := t.TempDir()
			loaded, goOn := filepath.Join(dir, "loaded"), filepath.Join(dir, "go")
			wait := dj.start("slow_modify", map[string]any{"key": keys[0], "set": map[string]any{"cart": "kept by the request"},
				"loaded": loaded, "go": goOn})
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if _, err := os.Stat(loaded); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("Django's request never reached its save")
				}
			}
			// The request saves once the revoke has removed its session.
			res, err := change.RevokeUser(ctx, st, "42", false, change.Audit{}, func(r store.Removal) {
				if r.Key == keys[0] {
					os.WriteFile(goOn, nil, 0o600)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if len(res.Removed) != 2 || len(res.CameBack) != 1 || res.CameBack[0].Key != keys[0] || len(res.Failed) != 0 ||
				!bytes.Contains(res.CameBack[0].JSON, []byte("kept by the request")) {
				t.Fatalf("revoke: removed %d, came back %+v, failed %v", len(res.Removed), res.CameBack, res.Failed)
			}
			var back []json.RawMessage
			dj.call("load", keys, &back)
			if string(back[0]) != "null" || string(back[1]) != "null" || string(back[2]) == "null" {
				t.Fatalf("Django loads after the revoke: %s", back)
			}
		})
	}
}

// Values no Django client writes, planted in the cache: a pickle that calls
// os.system, a memo bomb, a 100 MB value, pickles of other things than a
// dict. Each is listed as invalid, never executed, never written back
// (not by an edit, a renewal or a rename; an rm removes it), and the
// listing goes on.
func TestStorePlantedValues(t *testing.T) {
	ctx := context.Background()
	srv := cachetest.Redis(t)
	prefix := cachetest.Prefix(t)
	loc, _ := cachestore.ParseURL(srv.URL())
	c, err := cachestore.Open(cachestore.Config{Location: loc, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cc, _ := codec.NewCacheCodec(codec.CacheValueOptions{Client: codec.ClientRedisCache})
	st, err := cachestore.New(c, cachestore.StoreConfig{Codec: cc})
	if err != nil {
		t.Fatal(err)
	}
	// Hashing the 100 MB value in the server takes seconds on a loaded
	// machine: longer than go-redis's default 3 s read timeout.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: time.Minute})
	defer rdb.Close()

	marker := filepath.Join(t.TempDir(), "pwned")
	cmd := "touch " + marker
	reduce := []byte("\x80\x04}\x94\x8c\x01x\x94\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c")
	reduce = append(reduce, byte(len(cmd)))
	reduce = append(append(reduce, cmd...), "\x94\x85\x94R\x94s."...)
	// A memo bomb: {"b": t40} where t0 is an empty list and each t(i+1)
	// the tuple (t(i), t(i)), fetched from the memo: 2^40 lists if expanded.
	bomb := []byte("\x80\x02}q\x00(X\x01\x00\x00\x00bq\x01]q\x020")
	for i := 2; i < 42; i++ {
		bomb = append(bomb, 'h', byte(i), 'h', byte(i), 0x86, 'q', byte(i+1), '0')
	}
	bomb = append(bomb, 'h', 42, 'u', '.')
	planted := map[string][]byte{
		"reduce0000000000000000000000000a": reduce,
		"memobomb00000000000000000000000a": bomb,
		"huge000000000000000000000000000a": bytes.Repeat([]byte{'x'}, 100<<20),
		"alist00000000000000000000000000a": []byte("\x80\x04]\x94(K\x01K\x02e."),
		"anint00000000000000000000000000a": []byte("12345"),
		"notapickle000000000000000000000a": []byte("\x80\x05garbage"),
	}
	for k, v := range planted {
		if err := rdb.Set(ctx, c.Keys().Prefix()+k, v, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	good := "goodsession00000000000000000000a"
	if _, err := st.Save(ctx, good, []byte(`{"_auth_user_id": "1"}`), store.SaveOptions{MustCreate: true}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]store.Entry{}
	if err := st.Scan(ctx, func(e store.Entry) error { seen[e.Key] = e; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(planted)+1 || seen[good].Err != nil {
		t.Fatalf("listing: %d entries, good one %+v", len(seen), seen[good])
	}
	for k, v := range planted {
		e := seen[k]
		if e.Err == nil || e.RawSize != int64(len(v)) || e.UserID != "" {
			t.Errorf("%s: %+v", k, e)
		}
		wantProblem := "corrupt"
		if k == "huge000000000000000000000000000a" || k == "memobomb00000000000000000000000a" {
			wantProblem = "too-large"
		}
		if p := store.Problem(e.Err); p != wantProblem {
			t.Errorf("%s: problem %s (%v)", k, p, e.Err)
		}
		if _, err := st.Load(ctx, k); err == nil || !store.Undecodable(err) {
			t.Errorf("load %s: %v", k, err)
		}
		if _, err := st.Renew(ctx, k, time.Now(), store.Version{}); err == nil {
			t.Errorf("%s renewed", k)
		}
		if _, err := st.Rename(ctx, k, "copy"+k[4:]); err == nil {
			t.Errorf("%s renamed", k)
		}
		sum, err := rdb.Eval(ctx, "return redis.sha1hex(redis.call('GET', KEYS[1]))", []string{c.Keys().Prefix() + k}).Text()
		if err != nil {
			t.Fatalf("%s: hashing the stored bytes: %v", k, err)
		}
		if sum != fmt.Sprintf("%x", sha1.Sum(v)) {
			t.Errorf("%s: the stored bytes changed", k)
		}
		if n, _ := rdb.Exists(ctx, c.Keys().Prefix()+"copy"+k[4:]).Result(); n != 0 {
			t.Errorf("%s: copied", k)
		}
	}
	if !errors.Is(seen["reduce0000000000000000000000000a"].Err, codec.ErrForeignObject) {
		t.Errorf("the REDUCE of os.system: %v", seen["reduce0000000000000000000000000a"].Err)
	}
	if !errors.Is(seen["alist00000000000000000000000000a"].Err, codec.ErrNotObject) || !errors.Is(seen["anint00000000000000000000000000a"].Err, codec.ErrNotObject) {
		t.Errorf("values that are not dicts: %v / %v", seen["alist00000000000000000000000000a"].Err, seen["anint00000000000000000000000000a"].Err)
	}
	st2, err := st.Stats(ctx, nil)
	if err != nil || st2.Invalid != len(planted) || st2.Sessions != 1 || st2.Problems["too-large"] != 2 {
		t.Errorf("stats: %+v %v", st2, err)
	}
	// rm takes them away (the 100 MB value unread, as the size seen).
	for k := range planted {
		r, err := st.RemoveIf(ctx, k, false, func(e store.Entry) bool { return e.Err != nil })
		if err != nil || !r.Removed {
			t.Errorf("rm %s: %+v %v", k, r.Entry, err)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the planted pickle ran")
	}
}
