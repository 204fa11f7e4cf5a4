package cacheinterop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store/cachestore/cachetest"
)

// TestDjangoSettingsReadsCaches: with --django-settings alone, sessionfs
// reads SESSION_ENGINE and CACHES[SESSION_CACHE_ALIAS] (BACKEND, LOCATION,
// KEY_PREFIX, VERSION, OPTIONS with a COMPRESSOR and the PASSWORD of a
// Redis that requires one) and serves the sessions Django 3.2 with
// django-redis wrote. A custom KEY_FUNCTION is refused by name.
func TestDjangoSettingsReadsCaches(t *testing.T) {
	const password = "cache-pw-5f1e0c"
	srv := cachetest.RedisWithPassword(t, password)
	zlib := "django_redis.compressors.zlib.ZlibCompressor"
	s := &site{t: t, dj: harness.RequireDjango(t, "3.2"), url: "redis://" + srv.Addr + "/9", backend: "django_redis.cache.RedisCache",
		prefix: "proj", version: 4, options: map[string]string{"COMPRESSOR": zlib, "PASSWORD": password}}
	key := s.create(`{"_auth_user_id": "11", "basket": [1, 2, 3], "pad": "` + strings.Repeat("x", 200) + `"}`)[0]

	project := t.TempDir()
	pkg := filepath.Join(project, "cachesite")
	if err := os.MkdirAll(pkg, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, pkg, "__init__.py", "")
	settings := `SECRET_KEY = "cache-site-secret-key-0123456789abcdef"
INSTALLED_APPS = ["django.contrib.sessions", "django.contrib.contenttypes"]
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_CACHE_ALIAS = "sessions"
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "sessions": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://` + srv.Addr + `/9",
        "KEY_PREFIX": "proj",
        "VERSION": 4,
        "OPTIONS": {"COMPRESSOR": "` + zlib + `", "PASSWORD": "` + password + `", "SOCKET_TIMEOUT": 5},
    },
}
`
	writeFile(t, pkg, "settings.py", settings)
	writeFile(t, pkg, "tenant.py", settings+"CACHES[\"sessions\"][\"KEY_FUNCTION\"] = \"cachesite.keys.tenant_key\"\n")
	base := []string{"--python", harness.SystemPython, "--django-project", project}

	out := run(t, "", append(base, "--django-settings", "cachesite.settings", "ls", "--json")...)
	if out.code != 0 || !strings.Contains(out.stdout, `"key":"`+key+`"`) || !strings.Contains(out.stdout, `"user_id":"11"`) {
		t.Fatalf("ls --json with --django-settings: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	if strings.Contains(out.stderr, password) {
		t.Fatalf("the password shows on stderr: %s", out.stderr)
	}
	show := run(t, "", append(base, "--django-settings", "cachesite.settings", "show", key)...)
	if show.code != 0 {
		t.Fatalf("show: exit %d: %s", show.code, show.stderr)
	}
	sameSession(t, "show with --django-settings", []byte(show.stdout), s.load(key))
	// An explicit flag still wins: another prefix finds nothing.
	other := run(t, "", append(base, "--django-settings", "cachesite.settings", "--cache-key-prefix", "elsewhere", "ls", "--json")...)
	if other.code != 0 || strings.Contains(other.stdout, key) {
		t.Fatalf("ls with --cache-key-prefix over Django's: exit %d\n%s%s", other.code, other.stdout, other.stderr)
	}

	refused := run(t, "", append(base, "--django-settings", "cachesite.tenant", "ls")...)
	if refused.code != 1 || !strings.Contains(refused.stderr, "KEY_FUNCTION cachesite.keys.tenant_key is not served") {
		t.Fatalf("a custom KEY_FUNCTION: exit %d: %s", refused.code, refused.stderr)
	}
}

// TestDjangoSettingsCachedDB: --django-settings alone serves a cached_db
// site: SESSION_ENGINE, DATABASES, SECRET_KEY and CACHES come from its
// settings; rm removes the row and the cache copy.
func TestDjangoSettingsCachedDB(t *testing.T) {
	srv := cachetest.Redis(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "db.sqlite3")
	s := &site{t: t, dj: harness.RequireDjango(t, "3.2"), url: "redis://" + srv.Addr + "/11", backend: "django_redis.cache.RedisCache",
		engine: "cached_db", sqlite: db}
	keys := s.create(`{"_auth_user_id": "21", "a": 1}`, `{"_auth_user_id": "22", "b": 2}`)
	pkg := filepath.Join(dir, "cdbsite")
	if err := os.MkdirAll(pkg, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, pkg, "__init__.py", "")
	writeFile(t, pkg, "settings.py", `SECRET_KEY = "`+djcacheSecret+`"
INSTALLED_APPS = ["django.contrib.sessions", "django.contrib.contenttypes"]
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
USE_TZ = True
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "`+db+`"}}
CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://`+srv.Addr+`/11"}}
`)
	base := []string{"--python", harness.SystemPython, "--django-project", dir, "--django-settings", "cdbsite.settings"}
	out := run(t, "", append(base, "ls", "--json")...)
	if out.code != 0 || !strings.Contains(out.stdout, keys[0]) || !strings.Contains(out.stdout, keys[1]) {
		t.Fatalf("ls --json: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	if out := run(t, "", append(base, "rm", keys[0])...); out.code != 0 {
		t.Fatalf("rm: exit %d: %s", out.code, out.stderr)
	}
	s.want("after rm", map[string]string{keys[0]: "", keys[1]: `{"_auth_user_id": "22", "b": 2}`})
}
