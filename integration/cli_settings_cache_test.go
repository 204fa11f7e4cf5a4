package integration

import (
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/harness"
)

// byStderr tells flag from environment by what the run says on stderr.
func byStderr(flagText, envText string) func(cliResult) string {
	return func(res cliResult) string {
		flag, env := strings.Contains(res.stderr, flagText), strings.Contains(res.stderr, envText)
		switch {
		case flag && !env:
			return "flag"
		case env && !flag:
			return "env"
		}
		return exitText(res)
	}
}

// cacheSettingCases are the cache settings' precedence cases: no server
// answers on port 1, so each run ends in an error naming the server it
// tried, or in the refusal of a setting only the loser has.
func cacheSettingCases(t *testing.T) []settingCase {
	base := t.TempDir()
	flagURL := writeFile(t, base, "flag-url", []byte("redis://127.0.0.1:1/7\n"))
	envURL := writeFile(t, base, "env-url", []byte("memcached://127.0.0.1:1\n"))
	const unreachable = "session store unavailable"
	run := func(env, flag []string, effect func(cliResult) string) func(*testing.T) settingRun {
		return func(*testing.T) settingRun {
			return settingRun{env: append([]string{"SESSION_ENGINE=cache"}, env...), flag: flag, cmd: []string{"ls"}, effect: effect}
		}
	}
	redis := "CACHE_URL=redis://127.0.0.1:1/0"
	return []settingCase{
		{"cache-url", run([]string{"CACHE_URL=memcached://127.0.0.1:1"}, []string{"--cache-url", "redis://127.0.0.1:1/7"},
			byStderr("redis://127.0.0.1:1/7", "memcached://127.0.0.1:1"))},
		{"cache-url-file", run([]string{"CACHE_URL_FILE=" + envURL}, []string{"--cache-url-file", flagURL},
			byStderr("redis://127.0.0.1:1/7", "memcached://127.0.0.1:1"))},
		{"cache-backend", run([]string{redis, "CACHE_BACKEND=django.core.cache.backends.memcached.PyMemcacheCache"},
			[]string{"--cache-backend", "django_redis.cache.RedisCache"}, byStderr(unreachable, "does not talk to"))},
		{"cache-key-prefix", run([]string{redis, "CACHE_KEY_PREFIX=env prefix"}, []string{"--cache-key-prefix", "flagprefix"},
			byStderr(unreachable, "space or control character"))},
		{"cache-version", run([]string{redis, "CACHE_VERSION=0"}, []string{"--cache-version", "3"},
			byStderr(unreachable, "VERSION 1 or more"))},
		{"cache-option", run([]string{redis, "CACHE_OPTIONS=KEY_FUNCTION=envsite.keys.tenant"}, []string{"--cache-option", "SOCKET_TIMEOUT=1"},
			byStderr(unreachable, "KEY_FUNCTION envsite.keys.tenant is not served"))},
	}
}

// TestCacheURLPasswordNeverFromArgv: a cache URL with a password on the
// command line is refused, wherever it stands, even when the environment
// holds the same URL, and the message does not repeat the password.
func TestCacheURLPasswordNeverFromArgv(t *testing.T) {
	const url = "redis://:argv-pw-4e1d@127.0.0.1:1/0"
	for _, argv := range [][]string{
		{"--session-engine", "cache", "--cache-url", url, "ls"},
		{"--session-engine", "cache", "ls", "--cache-url=" + url},
	} {
		for _, env := range [][]string{nil, {"CACHE_URL=" + url}} {
			res := runCommand(t, "", env, nil, append([]string{harness.Binary(t)}, argv...)...)
			if res.code != 1 || !strings.Contains(res.stderr, "holds a password") || strings.Contains(res.stderr, "argv-pw") {
				t.Errorf("sessionfs %q with %q: exit %d: %s", argv, env, res.code, res.stderr)
			}
		}
	}
	// From the environment alone it is used (the server on port 1 is down).
	res := runCommand(t, "", []string{"CACHE_URL=" + url}, nil, harness.Binary(t), "--session-engine", "cache", "ls")
	if res.code != 1 || !strings.Contains(res.stderr, "session store unavailable") || strings.Contains(res.stderr, "argv-pw") {
		t.Errorf("CACHE_URL alone: exit %d: %s", res.code, res.stderr)
	}
}
