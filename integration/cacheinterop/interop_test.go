package cacheinterop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
	"github.com/sessionfs/sessionfs/store/cachestore/cachetest"
)

// sites are the Django configurations of the interop test, each on its own
// Redis database or key prefix of the shared servers.
func sites(t *testing.T) map[string]func(t *testing.T) *site {
	redis := func(t *testing.T, db string) string { return "redis://" + cachetest.Redis(t).Addr + "/" + db }
	return map[string]func(t *testing.T) *site{
		"4.2-RedisCache": func(t *testing.T) *site {
			return &site{t: t, dj: harness.RequireDjango(t, "4.2"), url: redis(t, "1"), backend: "django.core.cache.backends.redis.RedisCache"}
		},
		"5.2-RedisCache-prefix": func(t *testing.T) *site {
			return &site{t: t, dj: harness.RequireDjango(t, "5.2"), url: redis(t, "2"), backend: "django.core.cache.backends.redis.RedisCache",
				prefix: "site5", version: 2}
		},
		"3.2-django-redis-zlib": func(t *testing.T) *site {
			return &site{t: t, dj: harness.RequireDjango(t, "3.2"), url: redis(t, "3"), backend: "django_redis.cache.RedisCache",
				prefix: "shop", version: 3, options: map[string]string{"COMPRESSOR": "django_redis.compressors.zlib.ZlibCompressor"}}
		},
		"3.2-PyMemcacheCache": func(t *testing.T) *site {
			return &site{t: t, dj: harness.RequireDjango(t, "3.2"), url: cachetest.Memcached(t).URL(),
				backend: "django.core.cache.backends.memcached.PyMemcacheCache", prefix: cachetest.Prefix(t)}
		},
	}
}

// TestDjangoCacheSitesThroughCLIAndMount: for each site, what Django writes
// the CLI lists, shows, changes and removes, a mount serves to ls, cat,
// sed -i, rm and touch, and Django then loads exactly what sessionfs left.
func TestDjangoCacheSitesThroughCLIAndMount(t *testing.T) {
	all := sites(t)
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := all[name](t)
			keys := s.create(
				`{"_auth_user_id": "42", "n": 1, "note": "caf\u00e9"}`,
				`{"_auth_user_id": "42", "cart": [1, 2]}`,
				`{"_auth_user_id": "7", "theme": "dark"}`,
				`{"_auth_user_id": "8", "doomed": true}`,
			)
			a, b, c, d := keys[0], keys[1], keys[2], keys[3]

			// ls: every session, its user, the word for an unsigned cache value.
			listed := s.ls()
			for _, k := range keys {
				r, ok := listed[k]
				if !ok || r.Error != "" || r.UserID == nil || r.Format == nil || *r.Format != "cache" ||
					r.KeyUsed == nil || *r.KeyUsed != "unsigned" || r.Expires == nil {
					t.Fatalf("ls --json: %s: %+v (listed %d)", k, r, len(listed))
				}
			}
			if len(listed) != 4 {
				t.Fatalf("ls --json lists %d sessions, want 4: %v", len(listed), listed)
			}

			// show is what Django loads, values JSON has no type for included.
			sameSession(t, "show", []byte(s.mustCLI("", "show", a)), s.load(a))
			rich := s.createRich(`{"flag": "old"}`)
			richJSON := s.load(rich)
			sameSession(t, "show of rich values", []byte(s.mustCLI("", "show", rich)), richJSON)

			// put --keep-mtime: Django loads the new session; the TTL is
			// kept (expires unchanged).
			before := *s.ls()[c].Expires
			s.mustCLI(`{"_auth_user_id": "7", "theme": "light", "when": {"$date": "2024-02-29"}}`, "put", c, "--keep-mtime")
			// Memcached keeps a TTL to the second (its exptime), Redis exactly.
			after := *s.ls()[c].Expires
			if b, a := mustTime(t, before), mustTime(t, after); a.Sub(b) > time.Second || b.Sub(a) > time.Second ||
				!strings.HasPrefix(s.url, "memcached:") && a != b {
				t.Errorf("put --keep-mtime moved the expiry from %s to %s", before, after)
			}

			// stats and verify.
			var st struct {
				Sessions      int            `json:"sessions"`
				LoggedInUsers int            `json:"logged_in_users"`
				Serializers   map[string]int `json:"serializers"`
			}
			if err := json.Unmarshal([]byte(s.mustCLI("", "stats", "--json")), &st); err != nil || st.Sessions != 5 || st.LoggedInUsers != 3 ||
				st.Serializers["pickle"] != 5 {
				t.Fatalf("stats --json: %+v %v", st, err)
			}
			if out := s.cli("", "verify"); out.code != 0 || !strings.Contains(out.stderr, "5 sessions: 0 that do not decode") {
				t.Fatalf("verify: exit %d: %s", out.code, out.stderr)
			}

			// gc: the server expires keys; nothing is scanned or removed.
			if out := s.cli("", "gc"); out.code != 0 || !strings.Contains(out.stderr, "nothing to do") || out.stdout != "" {
				t.Fatalf("gc: exit %d: %q %q", out.code, out.stdout, out.stderr)
			}

			// rm: Django finds nothing; the audit log records it.
			auditLog := filepath.Join(t.TempDir(), "audit.log")
			s.mustCLI("", "rm", d, "--audit-log", auditLog)
			if b, err := os.ReadFile(auditLog); err != nil || !strings.Contains(string(b), `"op":"delete"`) || !strings.Contains(string(b), d) {
				t.Fatalf("audit log after rm: %s %v", b, err)
			}
			cLight := `{"_auth_user_id": "7", "theme": "light", "when": {"$date": "2024-02-29"}}`
			s.want("after put and rm", map[string]string{c: cLight, d: ""})

			// The mount.
			m := mounttest.Start(t, mounttest.Options{Args: s.args()})
			names := fileNames(t, m.Dir)
			for _, k := range []string{a, b, c} {
				if !slices.Contains(names, k+".json") {
					t.Fatalf("the mount lists %v, not %s.json", names, k)
				}
			}
			if slices.Contains(names, d+".json") {
				t.Fatalf("the mount lists the removed %s", d)
			}
			if ls := sh(t, "ls -l "+m.Dir); !strings.Contains(ls, a+".json") {
				t.Fatalf("ls -l: %s", ls)
			}
			if expired := fileNames(t, filepath.Join(m.Dir, ".expired")); len(expired) != 0 {
				t.Fatalf(".expired lists %v; the cache server drops expired keys", expired)
			}
			if byUser := fileNames(t, filepath.Join(m.Dir, ".by-user", "42")); len(byUser) != 2 {
				t.Fatalf(".by-user/42 lists %v, want 2 sessions", byUser)
			}
			catA, err := os.ReadFile(m.File(a))
			if err != nil {
				t.Fatal(err)
			}
			sameSession(t, "cat", catA, s.load(a))
			catRich, err := os.ReadFile(m.File(rich))
			if err != nil {
				t.Fatal(err)
			}
			sameSession(t, "cat of rich values", catRich, richJSON)
			sh(t, `sed -i 's/"n": 1/"n": 2/' `+m.File(a))
			sh(t, `sed -i 's/"flag": "old"/"flag": "new"/' `+m.File(rich))
			sh(t, "touch "+m.File(c))
			sh(t, "rm "+m.File(b))
			s.want("after sed -i, touch and rm in the mount", map[string]string{
				a: `{"_auth_user_id": "42", "n": 2, "note": "caf\u00e9"}`, c: cLight, b: "",
				rich: strings.Replace(string(richJSON), `"flag": "old"`, `"flag": "new"`, 1)})
			if _, err := os.Stat(m.File(b)); !os.IsNotExist(err) {
				t.Fatalf("stat of the removed %s: %v", b, err)
			}
			if err := m.Stop(t); err != nil {
				t.Fatalf("unmount: %v\n%s", err, m.Stderr())
			}

			// revoke --user: every session of 42 goes, the others stay.
			e := s.create(`{"_auth_user_id": "42", "again": true}`)[0]
			out := s.cli("", "revoke", "--user", "42")
			if out.code != 0 || !strings.Contains(out.stdout, a) || !strings.Contains(out.stdout, e) ||
				!strings.Contains(out.stderr, "removed 2 sessions of user 42") || !strings.Contains(out.stderr, "0 came back") {
				t.Fatalf("revoke --user 42: exit %d\n%s\n%s", out.code, out.stdout, out.stderr)
			}
			s.want("after revoke", map[string]string{a: "", e: "", c: cLight})
		})
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
