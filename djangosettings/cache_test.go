package djangosettings

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseCache(t *testing.T) {
	// base64 of "redis://:hunter2pw@cache:6379/1" and "hunter2pw".
	out := []byte(`{"secret_key": "", "cache": {"alias": "sessions", "backend": "django_redis.cache.RedisCache",
		"locations": ["cmVkaXM6Ly86aHVudGVyMnB3QGNhY2hlOjYzNzkvMQ=="], "key_prefix": "shop", "version": 3, "key_function": "",
		"options": {"COMPRESSOR": "django_redis.compressors.zlib.ZlibCompressor", "SOCKET_TIMEOUT": 5}, "password": "aHVudGVyMnB3"}}`)
	s, err := parse(out)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Cache
	if c == nil || c.Alias != "sessions" || c.Backend != "django_redis.cache.RedisCache" || len(c.Locations) != 1 ||
		c.Locations[0] != "redis://:hunter2pw@cache:6379/1" || c.KeyPrefix != "shop" || c.Version != 3 || string(c.Password) != "hunter2pw" ||
		c.Options["COMPRESSOR"] != "django_redis.compressors.zlib.ZlibCompressor" {
		t.Fatalf("%#v", c)
	}
	for _, text := range []string{fmt.Sprintf("%v", *c), fmt.Sprintf("%#v", c), fmt.Sprintf("%+v", *c)} {
		if strings.Contains(text, "hunter2") {
			t.Errorf("the password shows in %q", text)
		}
	}
	// No cache (a file or db engine), and Python's error reading CACHES.
	if s, err := parse([]byte(`{"secret_key": ""}`)); err != nil || s.Cache != nil {
		t.Fatalf("no cache: %v, %v", s.Cache, err)
	}
	if _, err := parse([]byte(`{"secret_key": "", "cache_error": "KeyError: 'sessions'"}`)); err == nil || !strings.Contains(err.Error(), "KeyError") {
		t.Fatalf("cache_error: %v", err)
	}
}
