package cacheinterop

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sessionfs/sessionfs/integration/dbtest"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
	"github.com/sessionfs/sessionfs/store/cachestore/cachetest"
)

// djcacheSecret is the SECRET_KEY djcache.py configures.
const djcacheSecret = "cachestore-interop-secret-key-0123456789"

// TestCachedDBThroughCLIAndMount: Django 4.2's cached_db over SQLite and
// Redis. An edit is the row's guarded UPDATE, then the DEL of the cache
// copy (never a SET of a pickle); rm is the row's DELETE, then the DEL.
// Django loads each change; a copy that differs from its row is what
// verify (exit 6) and stats report.
func TestCachedDBThroughCLIAndMount(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgresql"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testCachedDB(t, engine)
		})
	}
}

func testCachedDB(t *testing.T, engine string) {
	srv := cachetest.Redis(t)
	dir := t.TempDir()
	keyFile := writeFile(t, dir, "secret", djcacheSecret+"\n")
	db := filepath.Join(dir, "db.sqlite3")
	redisDB := map[string]string{"sqlite": "8", "postgresql": "13"}[engine]
	s := &site{t: t, dj: harness.RequireDjango(t, "4.2"), url: "redis://" + srv.Addr + "/" + redisDB, backend: "django.core.cache.backends.redis.RedisCache",
		engine: "cached_db", extra: []string{"--secret-key-file", keyFile}}
	if engine == "sqlite" {
		s.sqlite = db
		s.extra = append(s.extra, "--database-url", "sqlite:///"+db)
	} else {
		pg := dbtest.Postgres(t).NewDatabase(t)
		s.djdb = pg.Django()
		urlFile := writeFile(t, dir, "database-url", pg.URLWithPassword(false)+"\n")
		s.extra = append(s.extra, "--database-url-file", urlFile)
	}
	keys := s.create(`{"_auth_user_id": "42", "n": 1}`, `{"_auth_user_id": "7", "theme": "dark"}`, `{"_auth_user_id": "8", "x": 1}`)
	a, b, c := keys[0], keys[1], keys[2]
	n, _ := strconv.Atoi(redisDB)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: n})
	defer rdb.Close()
	ctx := context.Background()
	cacheKey := func(k string) string { return ":1:django.contrib.sessions.cached_db" + k }
	hasCopy := func(k string) bool {
		n, err := rdb.Exists(ctx, cacheKey(k)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	for _, k := range keys {
		if !hasCopy(k) {
			t.Fatalf("Django left no cache copy of %s", k)
		}
	}

	listed := s.ls()
	if len(listed) != 3 || listed[a].Format == nil || *listed[a].Format != "signed" || listed[a].UserID == nil || *listed[a].UserID != "42" {
		t.Fatalf("ls --json: %+v", listed)
	}
	if out := s.cli("", "verify"); out.code != 0 || !strings.Contains(out.stderr, "0 cache copies Django serves instead of their rows") {
		t.Fatalf("verify: exit %d: %s%s", out.code, out.stdout, out.stderr)
	}

	// put: the row changes and the copy goes; Django reads the row.
	s.mustCLI(`{"_auth_user_id": "42", "n": 5}`, "put", a)
	if hasCopy(a) {
		t.Fatal("put left the cache copy Django would keep serving")
	}

	// The mount: sed -i and rm.
	m := mounttest.Start(t, mounttest.Options{Args: s.args()})
	if names := fileNames(t, m.Dir); !strings.Contains(strings.Join(names, " "), b+".json") {
		t.Fatalf("the mount lists %v", names)
	}
	sh(t, `sed -i 's/"dark"/"light"/' `+m.File(b))
	if hasCopy(b) {
		t.Fatal("an edit in the mount left the cache copy")
	}
	sh(t, "rm "+m.File(c))
	if hasCopy(c) {
		t.Fatal("rm in the mount left the cache copy")
	}
	if err := m.Stop(t); err != nil {
		t.Fatal(err)
	}
	s.want("after put, sed -i and rm", map[string]string{
		a: `{"_auth_user_id": "42", "n": 5}`, b: `{"_auth_user_id": "7", "theme": "light"}`, c: ""})
	if listed := s.ls(); len(listed) != 2 {
		t.Fatalf("ls after rm lists %d rows, want 2", len(listed))
	}

	// A copy that is not its row: what Django serves, verify and stats say.
	// Django's load above cached a's row again; replace that copy.
	if !hasCopy(a) {
		t.Fatal("Django's load did not cache the row again")
	}
	if err := rdb.Set(ctx, cacheKey(a), pythonPickle(t, "", `{"_auth_user_id": "42", "n": 99}`), 0).Err(); err != nil {
		t.Fatal(err)
	}
	out := s.cli("", "verify", "--json")
	var rec struct{ Key, Problem string }
	if out.code != 6 || json.Unmarshal([]byte(strings.TrimSpace(out.stdout)), &rec) != nil || rec.Key != a || rec.Problem != "cache-differs" {
		t.Fatalf("verify --json with a differing copy: exit %d: %s%s", out.code, out.stdout, out.stderr)
	}
	var st struct {
		CacheDiffers *int `json:"cache_differs"`
	}
	if err := json.Unmarshal([]byte(s.mustCLI("", "stats", "--json")), &st); err != nil || st.CacheDiffers == nil || *st.CacheDiffers != 1 {
		t.Fatalf("stats --json: cache_differs %v, %v", st.CacheDiffers, err)
	}
	if text := s.mustCLI("", "stats"); !strings.Contains(text, "cache differs 1") {
		t.Fatalf("stats: %s", text)
	}
	// rm removes the row and the copy: Django finds nothing.
	s.mustCLI("", "rm", a)
	if hasCopy(a) {
		t.Fatal("rm left the cache copy")
	}
	s.want("after rm", map[string]string{a: ""})
}
