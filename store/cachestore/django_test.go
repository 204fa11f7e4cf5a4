package cachestore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store/cachestore"
	"github.com/sessionfs/sessionfs/store/cachestore/cachetest"
)

// djangoCache is one site configuration: a Django version and its CACHES entry.
type djangoCache struct {
	name       string
	django     string
	backend    string
	server     string // redis or memcached
	db         int
	prefix     string
	version    int
	options    map[string]any
	engine     string // cache (default) or cached_db
	compressor codec.Compressor
}

func djangoCaches() []djangoCache {
	zlib := "django_redis.compressors.zlib.ZlibCompressor"
	return []djangoCache{
		{name: "3.2 django-redis", django: "3.2", backend: "django_redis.cache.RedisCache", server: "redis", db: 1, prefix: "shop", version: 3},
		{name: "3.2 django-redis zlib", django: "3.2", backend: "django_redis.cache.RedisCache", server: "redis", db: 2, prefix: "zshop", version: 7,
			options: map[string]any{"COMPRESSOR": zlib}, compressor: codec.CompressZlib},
		{name: "3.2 PyMemcacheCache", django: "3.2", backend: "django.core.cache.backends.memcached.PyMemcacheCache", server: "memcached", prefix: "pym"},
		{name: "4.2 RedisCache", django: "4.2", backend: "django.core.cache.backends.redis.RedisCache", server: "redis", db: 3},
		{name: "5.2 RedisCache", django: "5.2", backend: "django.core.cache.backends.redis.RedisCache", server: "redis", db: 4, prefix: "site5", version: 2},
		{name: "4.2 cached_db RedisCache", django: "4.2", backend: "django.core.cache.backends.redis.RedisCache", server: "redis", db: 5, engine: "cached_db"},
	}
}

// site runs djcache.py with one configuration.
type site struct {
	t        *testing.T
	dj       *harness.Django
	settings map[string]any
}

func newSite(t *testing.T, cfg djangoCache, location string) *site {
	dj := harness.RequireDjango(t, cfg.django)
	s := map[string]any{"backend": cfg.backend, "location": location, "key_prefix": cfg.prefix, "version": cfg.version,
		"options": cfg.options, "engine": cfg.engine}
	if cfg.engine == "cached_db" {
		s["database"] = filepath.Join(t.TempDir(), "db.sqlite3")
	}
	return &site{t: t, dj: dj, settings: s}
}

func (s *site) call(op string, req, resp any) {
	s.t.Helper()
	if err := s.run(op, req, resp); err != nil {
		s.t.Fatal(err)
	}
}

// start runs an op in the background; wait returns its error.
func (s *site) start(op string, req any) (wait func() error) {
	done := make(chan error, 1)
	go func() { done <- s.run(op, req, nil) }()
	return func() error { return <-done }
}

func (s *site) run(op string, req, resp any) error {
	in, err := json.Marshal(map[string]any{"settings": s.settings, "op": op, "req": req})
	if err != nil {
		return err
	}
	script, err := os.ReadFile("testdata/djcache.py")
	if err != nil {
		return err
	}
	cmd := exec.Command(s.dj.Python, "-c", string(script))
	env := []string{"PYTHONIOENCODING=utf-8"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PYTHONPATH=") && !strings.HasPrefix(kv, "PYTHONHOME=") {
			env = append(env, kv)
		}
	}
	if s.dj.PythonPath != "" {
		env = append(env, "PYTHONPATH="+s.dj.PythonPath)
	}
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("django %s %s: %v\n%s", s.dj.Version, op, err, stderr.Bytes())
	}
	var answer struct{ Resp json.RawMessage }
	if err := json.Unmarshal(out, &answer); err != nil {
		return fmt.Errorf("django %s %s: %v: %s", s.dj.Version, op, err, out)
	}
	if resp != nil {
		if err := json.Unmarshal(answer.Resp, resp); err != nil {
			return fmt.Errorf("django %s %s: %v: %s", s.dj.Version, op, err, answer.Resp)
		}
	}
	return nil
}

func sameSession(t *testing.T, what string, ours, djangos []byte) {
	t.Helper()
	ok, where, err := harness.SameSession(ours, djangos)
	if err != nil || !ok {
		t.Errorf("%s: sessionfs %s\nDjango   %s\ndiffer at %s %v", what, ours, djangos, where, err)
	}
}

// Both ways, for each site: what Django saves, sessionfs reads exactly (with
// the TTL Django set); what sessionfs writes (an edit keeping the TTL, a new
// session), Django loads exactly.
func TestDjangoInterop(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range djangoCaches() {
		t.Run(cfg.name, func(t *testing.T) {
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
			st := newSite(t, cfg, location)
			loc, err := cachestore.ParseURL(url)
			if err != nil {
				t.Fatal(err)
			}
			c, err := cachestore.Open(cachestore.Config{Location: loc, KeyPrefix: cfg.prefix, Version: cfg.version,
				CachedDB: cfg.engine == "cached_db", Metadump: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			client, err := codec.ParseCacheClient(cfg.backend)
			if err != nil {
				t.Fatal(err)
			}
			cc, err := codec.NewCacheCodec(codec.CacheValueOptions{Client: client, Compressor: cfg.compressor})
			if err != nil {
				t.Fatal(err)
			}

			// Django writes.
			login := map[string]any{"_auth_user_id": "42", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
				"_auth_user_hash": "0123456789abcdef0123456789abcdef01234567", "cart": []int{1, 2, 3}}
			var keys []string
			st.call("create", []map[string]any{
				{"data": login},
				{"data": login, "rich": cfg.engine != "cached_db"}, // the db half of cached_db signs JSON
				{"data": map[string]any{"k": "v"}, "expiry": 300},
				{"data": map[string]any{"k": "v"}, "expiry": "1d"},
			}, &keys)
			var djangoJSON []json.RawMessage
			st.call("load", keys, &djangoJSON)
			ttls := []time.Duration{1209600 * time.Second, 1209600 * time.Second, 300 * time.Second, 24 * time.Hour}
			items := make([]cachestore.Item, len(keys))
			for i, k := range keys {
				it, err := c.Get(ctx, k)
				if err != nil {
					t.Fatalf("get %s: %v", k, err)
				}
				items[i] = it
				js, _, err := cc.Decode(it.Value, it.Flags)
				if err != nil {
					t.Fatalf("decode %s: %v (%x)", k, err, it.Value)
				}
				sameSession(t, "Django wrote "+k, js, djangoJSON[i])
				if d := time.Until(it.Expiry) - ttls[i]; d > 2*time.Second || d < -30*time.Second {
					t.Errorf("%s: expires in %v, Django set %v", k, time.Until(it.Expiry), ttls[i])
				}
			}
			if cfg.compressor == codec.CompressZlib && items[1].Value[0] == 0x80 {
				t.Errorf("django-redis did not compress: %x", items[1].Value[:8])
			}
			listed := map[string]bool{}
			if err := c.Scan(ctx, func(it cachestore.Item) error { listed[it.Key] = it.Err == nil; return nil }); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if !listed[k] {
					t.Errorf("%s not listed (%v)", k, listed)
				}
			}

			// sessionfs writes: an edit of each Django session, keeping its TTL.
			var wrote [][]byte
			for i, k := range keys {
				js, _, _ := cc.Decode(items[i].Value, items[i].Flags)
				edited := append(bytes.TrimSuffix(js, []byte("}")), []byte(`,"edited_by":"sessionfs ☃"}`)...)
				value, flags, err := cc.Encode(edited)
				if err != nil {
					t.Fatalf("encode %s: %v", edited, err)
				}
				set, err := c.CompareAndSet(ctx, k, items[i].Version, value, flags, cachestore.KeepTTL)
				if err != nil {
					t.Fatalf("edit %s: %v", k, err)
				}
				if d := set.Expiry.Sub(items[i].Expiry); d > 2*time.Second || d < -2*time.Second {
					t.Errorf("%s: the edit moved the expiry by %v", k, d)
				}
				wrote = append(wrote, edited)
			}
			// ... and a new session with every tagged form.
			zone := "+00:00"
			if cfg.django == "3.2" {
				zone = "+00:00[pytz.utc]"
			}
			fresh := []byte(`{"_auth_user_id":"7","price":{"$decimal":"1.50"},"tags":{"$set":["a","b"]},"pair":{"$tuple":[1,"x"]},` +
				`"raw":{"$bytes":"AP8="},"at":{"$datetime":"2024-01-02T03:04:05.123456` + zone + `"},` +
				`"paris":{"$datetime":"2024-10-27T02:30:00+01:00[Europe/Paris]"},"day":{"$date":"2024-02-29"},` +
				`"delta":{"$timedelta":{"days":1,"seconds":2,"microseconds":3}},"big":123456789012345678901234567890,"f":1.5,"n":null}`)
			value, flags, err := cc.Encode(fresh)
			if err != nil {
				t.Fatal(err)
			}
			newKey := "sessionfs" + strings.Repeat("0", 23)
			if _, err := c.Add(ctx, newKey, value, flags, time.Hour); err != nil {
				t.Fatal(err)
			}
			keys, wrote = append(keys, newKey), append(wrote, fresh)
			var back []json.RawMessage
			st.call("load", keys, &back)
			for i, k := range keys {
				sameSession(t, "sessionfs wrote "+k, wrote[i], back[i])
			}

			// Django's own save after ours (GET then SET) keeps reading what we wrote.
			st.call("modify", []map[string]any{{"key": keys[0], "set": map[string]any{"later": 1}}}, nil)
			it, err := c.Get(ctx, keys[0])
			if err != nil {
				t.Fatal(err)
			}
			js, _, err := cc.Decode(it.Value, it.Flags)
			if err != nil || !bytes.Contains(js, []byte(`"edited_by":"sessionfs \u2603","later":1`)) {
				t.Errorf("after Django's save: %s %v", js, err)
			}
		})
	}
}

// A crafted pickle planted under a session key is reported, never run (and
// never handed to Django here either).
func TestPlantedPickleIsReported(t *testing.T) {
	ctx := context.Background()
	srv := cachetest.Redis(t)
	prefix := cachetest.Prefix(t)
	loc, _ := cachestore.ParseURL(srv.URL())
	c, err := cachestore.Open(cachestore.Config{Location: loc, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	marker := filepath.Join(t.TempDir(), "pwned")
	// {"x": os.system("touch <marker>")} at protocol 4, as pickle.dumps writes it.
	cmd := "touch " + marker
	p := []byte("\x80\x04}\x94\x8c\x01x\x94\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c")
	p = append(p, byte(len(cmd)))
	p = append(p, cmd...)
	p = append(p, "\x94\x85\x94R\x94s."...)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	const k = "planted0000000000000000000000000"
	if err := rdb.Set(ctx, c.Keys().Prefix()+k, p, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	cc, _ := codec.NewCacheCodec(codec.CacheValueOptions{Client: codec.ClientRedisCache})
	it, err := c.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if js, _, err := cc.Decode(it.Value, 0); !errors.Is(err, codec.ErrForeignObject) || js != nil || !strings.Contains(err.Error(), "posix.system") {
		t.Fatalf("%s %v", js, err)
	}
	found := false
	c.Scan(ctx, func(it cachestore.Item) error {
		if it.Key == k {
			_, _, err := cc.Decode(it.Value, 0)
			found = errors.Is(err, codec.ErrForeignObject)
		}
		return nil
	})
	if !found {
		t.Error("the listing did not report the planted value")
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the payload ran")
	}
}
