package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/djangosettings"
	"github.com/sessionfs/sessionfs/store/cachestore"
)

// readCacheSettingsFrom runs the shared settings over argv (sessionfs ARGS
// probe ARGS) and returns what readCacheSettings makes of them.
func readCacheSettingsFrom(t *testing.T, argv ...string) (cacheSettings, error) {
	t.Helper()
	for _, v := range []string{envCacheURL, "CACHE_URL_FILE", "CACHE_BACKEND", "CACHE_KEY_PREFIX", "CACHE_VERSION", "CACHE_OPTIONS"} {
		if _, ok := os.LookupEnv(v); !ok {
			t.Setenv(v, "")
			os.Unsetenv(v)
		}
	}
	var got cacheSettings
	var gotErr error
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	app.ExitErrHandler = func(*cli.Context, error) {}
	app.Commands = append(app.Commands, &cli.Command{
		Name:  "probe",
		Flags: commandLevel(settingsFlags()),
		Action: func(c *cli.Context) error {
			got, gotErr = readCacheSettings(c, false)
			return nil
		},
	})
	if err := app.RunContext(context.Background(), append([]string{"sessionfs"}, argv...)); err != nil {
		t.Fatalf("sessionfs %q: %v", argv, err)
	}
	return got, gotErr
}

func TestCacheURLWithPasswordRefusedOnTheCommandLine(t *testing.T) {
	const secret = "s3cret-pw-7"
	for _, argv := range [][]string{
		{"--cache-url", "redis://:" + secret + "@127.0.0.1:6379/0", "probe"},
		{"probe", "--cache-url", "redis://user:" + secret + "@127.0.0.1:6379/0"},
		{"probe", "--cache-url", "redis://127.0.0.1:6379/0?password=" + secret},
	} {
		_, err := readCacheSettingsFrom(t, argv...)
		var ue usageErr
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "$CACHE_URL") || strings.Contains(err.Error(), secret) {
			t.Errorf("sessionfs %q: %v, want a usage error pointing at $CACHE_URL that does not repeat the password", argv, err)
		}
	}
	// The same URL from the environment, or from a file, is taken.
	t.Setenv(envCacheURL, "redis://:"+secret+"@127.0.0.1:6379/2")
	s, err := readCacheSettingsFrom(t, "probe")
	if err != nil || s.Client.Location.Password != secret || s.Client.Location.DB != 2 {
		t.Fatalf("from $CACHE_URL: %+v, %v", s.Client.Location, err)
	}
	os.Unsetenv(envCacheURL)
	file := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(file, []byte("redis://:"+secret+"@127.0.0.1:6379/3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = readCacheSettingsFrom(t, "--cache-url-file", file, "probe")
	if err != nil || s.Client.Location.Password != secret || s.Client.Location.DB != 3 {
		t.Fatalf("from --cache-url-file: %+v, %v", s.Client.Location, err)
	}
	// A flag given on the command line beats the environment even when
	// the environment holds a password: a password-less flag is fine.
	t.Setenv(envCacheURL, "redis://:"+secret+"@127.0.0.1:6379/2")
	s, err = readCacheSettingsFrom(t, "probe", "--cache-url", "redis://127.0.0.1:6379/5")
	if err != nil || s.Client.Location.DB != 5 || s.Client.Location.Password != "" {
		t.Fatalf("flag over $CACHE_URL: %+v, %v", s.Client.Location, err)
	}
}

func TestCacheSettings(t *testing.T) {
	zlib := "COMPRESSOR=django_redis.compressors.zlib.ZlibCompressor"
	cases := []struct {
		name    string
		argv    []string
		check   func(cacheSettings) bool
		wantErr string
	}{
		{"redis default backend", []string{"--cache-url", "redis://h/1", "probe"},
			func(s cacheSettings) bool {
				return s.Codec.Client == codec.ClientRedisCache && s.Client.Version == 1 && s.Client.KeyPrefix == "" && s.Client.Location.DB == 1
			}, ""},
		{"memcached default backend", []string{"probe", "--cache-url", "memcached://h:11211"},
			func(s cacheSettings) bool {
				return s.Codec.Client == codec.ClientMemcached && s.Client.Location.Kind == cachestore.KindMemcached && s.Client.Metadump
			}, ""},
		{"django-redis zlib prefix version", []string{"--cache-url", "redis://h", "--cache-backend", "django_redis.cache.RedisCache",
			"probe", "--cache-option", zlib, "--cache-option", "PICKLE_VERSION=-1", "--cache-key-prefix", "shop", "--cache-version", "3"},
			func(s cacheSettings) bool {
				return s.Codec.Client == codec.ClientDjangoRedis && s.Codec.Compressor == codec.CompressZlib && s.Codec.Protocol == 5 &&
					s.Client.KeyPrefix == "shop" && s.Client.Version == 3
			}, ""},
		{"harmless options", []string{"--cache-url", "redis://h", "probe", "--cache-option", "SOCKET_TIMEOUT=5", "--cache-option", "db=2",
			"--cache-option", "KEY_FUNCTION=" + defaultKeyFunction}, func(cacheSettings) bool { return true }, ""},
		{"custom key function", []string{"--cache-url", "redis://h", "probe", "--cache-option", "KEY_FUNCTION=myproject.cache.tenant_key"},
			nil, "KEY_FUNCTION myproject.cache.tenant_key is not served"},
		{"compressor of another client", []string{"--cache-url", "redis://h", "probe", "--cache-option", zlib},
			nil, "COMPRESSOR is a django-redis option"},
		{"json serializer", []string{"--cache-url", "redis://h", "--cache-backend", "django_redis.cache.RedisCache", "probe",
			"--cache-option", "SERIALIZER=django_redis.serializers.json.JSONSerializer"}, nil, "is not served"},
		{"password option", []string{"--cache-url", "redis://h", "probe", "--cache-option", "PASSWORD=x"}, nil, "never on the command line"},
		{"herd client", []string{"--cache-url", "redis://h", "--cache-backend", "django_redis.cache.RedisCache", "probe",
			"--cache-option", "CLIENT_CLASS=django_redis.client.HerdClient"}, nil, "CLIENT_CLASS django_redis.client.HerdClient is not served"},
		{"backend for another server", []string{"--cache-url", "memcached://h", "--cache-backend", "django_redis.cache.RedisCache", "probe"},
			nil, "does not talk to memcached://h:11211"},
		{"unknown backend", []string{"--cache-url", "redis://h", "--cache-backend", "django.core.cache.backends.filebased.FileBasedCache", "probe"},
			nil, "is not supported"},
		{"version 0", []string{"--cache-url", "redis://h", "--cache-version", "0", "probe"}, nil, "VERSION 1 or more"},
		{"prefix with a space", []string{"--cache-url", "memcached://h", "--cache-key-prefix", "my site", "probe"}, nil, "space or control"},
		{"no URL", []string{"probe"}, nil, "needs the cache server"},
		{"bad scheme", []string{"--cache-url", "http://h", "probe"}, nil, "not supported"},
		{"option without value", []string{"--cache-url", "redis://h", "probe", "--cache-option", "COMPRESSOR"}, nil, "want KEY=VALUE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := readCacheSettingsFrom(t, tc.argv...)
			if tc.wantErr != "" {
				var ue usageErr
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("%v, want a usage error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(s) {
				t.Fatalf("%+v, %v", s, err)
			}
		})
	}
}

func TestCacheOptionsFromTheEnvironment(t *testing.T) {
	t.Setenv("CACHE_OPTIONS", "COMPRESSOR=django_redis.compressors.zlib.ZlibCompressor,PICKLE_VERSION=4")
	t.Setenv("CACHE_BACKEND", "django_redis.cache.RedisCache")
	s, err := readCacheSettingsFrom(t, "--cache-url", "redis://h", "probe")
	if err != nil || s.Codec.Compressor != codec.CompressZlib || s.Codec.Protocol != 4 {
		t.Fatalf("%+v, %v", s.Codec, err)
	}
	// A flag replaces the environment's options.
	s, err = readCacheSettingsFrom(t, "--cache-url", "redis://h", "probe", "--cache-option", "PICKLE_VERSION=2")
	if err != nil || s.Codec.Compressor != codec.CompressNone || s.Codec.Protocol != 2 {
		t.Fatalf("%+v, %v", s.Codec, err)
	}
}

func TestFormatCacheWords(t *testing.T) {
	i := codec.Info{Format: codec.FormatCache, Serializer: codec.SerializerPickle}
	if i.Format.String() != "cache" || i.KeyName() != "unsigned" {
		t.Fatalf("a cache value's format %q, key %q; want cache, unsigned", i.Format, i.KeyName())
	}
	if _, err := codec.ParseFormat("cache"); err == nil {
		t.Fatal("format cache parsed as a format to write")
	}
}

// withDjangoCache makes dc the CACHES entry read from Django for one test.
func withDjangoCache(t *testing.T, dc *djangosettings.Cache) {
	djangoLoaded.Lock()
	old := djangoLoaded.settings
	djangoLoaded.settings = &djangosettings.Settings{Cache: dc}
	djangoLoaded.Unlock()
	t.Cleanup(func() {
		djangoLoaded.Lock()
		djangoLoaded.settings = old
		djangoLoaded.Unlock()
	})
}

func TestCacheSettingsFromDjango(t *testing.T) {
	withDjangoCache(t, &djangosettings.Cache{Alias: "default", Backend: "django_redis.cache.RedisCache",
		Locations: []string{"redis://cache:6379/4", "redis://replica:6379/4"}, KeyPrefix: "shop", Version: 3,
		Options: map[string]any{"COMPRESSOR": "django_redis.compressors.zlib.ZlibCompressor", "SOCKET_TIMEOUT": 5.0}, Password: []byte("pw")})
	s, err := readCacheSettingsFrom(t, "probe")
	if err != nil || s.Client.Location.Addr != "cache:6379" || s.Client.Location.DB != 4 || s.Client.Password != "pw" ||
		s.Client.KeyPrefix != "shop" || s.Client.Version != 3 || s.Codec.Client != codec.ClientDjangoRedis || s.Codec.Compressor != codec.CompressZlib {
		t.Fatalf("from Django: %+v, %v", s, err)
	}
	// Explicit settings win, each on its own.
	s, err = readCacheSettingsFrom(t, "--cache-url", "redis://other:6379/1", "probe", "--cache-key-prefix", "mine", "--cache-option", "PICKLE_VERSION=2")
	if err != nil || s.Client.Location.Addr != "other:6379" || s.Client.KeyPrefix != "mine" || s.Client.Version != 3 ||
		s.Codec.Compressor != codec.CompressNone || s.Codec.Protocol != 2 {
		t.Fatalf("flags over Django: %+v, %v", s, err)
	}

	withDjangoCache(t, &djangosettings.Cache{Alias: "sessions", Backend: "django.core.cache.backends.memcached.PyMemcacheCache",
		Locations: []string{"mc1:11211", "mc2:11211"}, Version: 1})
	if _, err := readCacheSettingsFrom(t, "probe"); err == nil || !strings.Contains(err.Error(), "names 2 Memcached servers") {
		t.Fatalf("two Memcached servers: %v", err)
	}
	withDjangoCache(t, &djangosettings.Cache{Alias: "sessions", Backend: "django.core.cache.backends.memcached.PyMemcacheCache",
		Locations: []string{"mc1:11211"}, Version: 1})
	if s, err := readCacheSettingsFrom(t, "probe"); err != nil || s.Client.Location.Kind != cachestore.KindMemcached || s.Client.Location.Addr != "mc1:11211" {
		t.Fatalf("one Memcached server: %+v, %v", s.Client.Location, err)
	}
	withDjangoCache(t, &djangosettings.Cache{Alias: "default", Backend: "django.core.cache.backends.redis.RedisCache",
		Locations: []string{"redis://cache:6379/0"}, Version: 1, KeyFunction: "mysite.keys.tenant"})
	if _, err := readCacheSettingsFrom(t, "probe"); err == nil || !strings.Contains(err.Error(), "KEY_FUNCTION mysite.keys.tenant is not served") {
		t.Fatalf("custom KEY_FUNCTION: %v", err)
	}
}
