package main

// The cache settings: where Django's cache session backend (and cached_db's
// copies) keeps its sessions, and the cache client that wrote them, named
// after CACHES[SESSION_CACHE_ALIAS]. A password travels in the URL, and the
// URL comes from a file or the environment whenever it holds one, never
// from the command line (argv is visible to every user of the machine).

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/djangosettings"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/cacheddb"
	"github.com/sessionfs/sessionfs/store/cachestore"
)

const (
	flagCacheURL       = "cache-url"
	flagCacheURLFile   = "cache-url-file"
	flagCacheBackend   = "cache-backend"
	flagCacheKeyPrefix = "cache-key-prefix"
	flagCacheVersion   = "cache-version"
	flagCacheOption    = "cache-option"
	envCacheURL        = "CACHE_URL"
	cacheCategory      = "Cache (SESSION_ENGINE cache and cached_db)"

	// defaultKeyFunction is Django's KEY_FUNCTION, the only one served.
	defaultKeyFunction = "django.core.cache.backends.base.default_key_func"
)

// cacheSettingsFlags are the cache settings, part of the shared settings.
func cacheSettingsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagCacheURL, Category: cacheCategory, EnvVars: []string{envCacheURL},
			Usage: "the cache server (LOCATION): redis://host:6379/0, rediss://..., unix:///path/redis.sock?db=0 or memcached://host:11211; " +
				"a URL with a password only from $" + envCacheURL + " or --" + flagCacheURLFile},
		&cli.StringFlag{Name: flagCacheURLFile, Category: cacheCategory, EnvVars: []string{"CACHE_URL_FILE"}, TakesFile: true,
			Usage: "`FILE` holding the cache URL, password included (one trailing newline dropped)"},
		&cli.StringFlag{Name: flagCacheBackend, Category: cacheCategory, EnvVars: []string{"CACHE_BACKEND"},
			Usage: "the cache's BACKEND, which decides the stored bytes: django.core.cache.backends.redis.RedisCache, django_redis.cache.RedisCache, " +
				"django.core.cache.backends.memcached.PyMemcacheCache or PyLibMCCache (default: Django's RedisCache for a Redis URL, PyMemcacheCache for Memcached)"},
		&cli.StringFlag{Name: flagCacheKeyPrefix, Category: cacheCategory, EnvVars: []string{"CACHE_KEY_PREFIX"},
			Usage: "the cache's KEY_PREFIX"},
		&cli.Int64Flag{Name: flagCacheVersion, Category: cacheCategory, EnvVars: []string{"CACHE_VERSION"}, Value: 1,
			Usage: "the cache's VERSION"},
		&cli.StringSliceFlag{Name: flagCacheOption, Category: cacheCategory, EnvVars: []string{"CACHE_OPTIONS"},
			Usage: "`KEY=VALUE` of the cache's OPTIONS that change the stored bytes (django-redis COMPRESSOR, SERIALIZER, PICKLE_VERSION; " +
				"KEY_FUNCTION), repeatable; the environment variable separates them with commas"},
	}
}

// cacheSettings are the cache settings, checked.
type cacheSettings struct {
	Client cachestore.Config
	Codec  codec.CacheValueOptions
}

// readCacheURL returns the cache URL: --cache-url-file's content, else
// --cache-url (or $CACHE_URL), else Django's. A URL with a password given
// on the command line is refused before anything is connected.
func readCacheURL(c *cli.Context) (string, error) {
	if path := settingString(c, flagCacheURLFile); path != "" {
		u, _, err := readURLFile("cache", path)
		return u, err
	}
	u := settingString(c, flagCacheURL)
	if u != "" && cachestore.HasPassword(u) && (fromCommandLine(c, flagCacheURL, envCacheURL) || inArgv(u)) {
		return "", usageErrorf("--%s holds a password, which the command line shows every user of the machine: give the URL in $%s or in a file named by --%s",
			flagCacheURL, envCacheURL, flagCacheURLFile)
	}
	if u == "" {
		var err error
		if u, err = djangoCacheURL(); err != nil {
			return "", err
		}
	}
	if u == "" {
		return "", usageErrorf("SESSION_ENGINE %s needs the cache server: --%s, $%s or --%s (or --%s)",
			settingString(c, flagSessionEngine), flagCacheURL, envCacheURL, flagCacheURLFile, flagDjangoSettings)
	}
	return u, nil
}

// fromCommandLine reports whether setting name's value was given on the
// command line rather than in its environment variable env. A command's own
// level has no environment (commandLevel): a value there is the command
// line's. On the global level, whose flag has the environment variable, a
// value other than the environment's came from the command line.
func fromCommandLine(c *cli.Context, name, env string) bool {
	for _, ctx := range c.Lineage() {
		if !flagSetLocally(ctx, name) {
			continue
		}
		if ctx.Command == nil || !flagHasEnv(ctx.Command.Flags, name) {
			return true
		}
		v, ok := os.LookupEnv(env)
		return !ok || v != ctx.String(name)
	}
	return false
}

// inArgv reports whether s is part of the process's command line, where
// every user of the machine can read it (the same URL in the environment
// too, for one).
func inArgv(s string) bool {
	return slices.ContainsFunc(os.Args[1:], func(a string) bool { return strings.Contains(a, s) })
}

// flagHasEnv reports whether the flag name among flags reads an environment variable.
func flagHasEnv(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		if e, ok := f.(interface{ GetEnvVars() []string }); ok && slices.Contains(f.Names(), name) {
			return len(e.GetEnvVars()) > 0
		}
	}
	return false
}

// readCacheSettings reads the cache settings; cachedDB picks cached_db's keys.
func readCacheSettings(c *cli.Context, cachedDB bool) (cacheSettings, error) {
	if err := applyDjangoSettings(c); err != nil {
		return cacheSettings{}, err
	}
	if err := applyDjangoCache(c); err != nil {
		return cacheSettings{}, err
	}
	raw, err := readCacheURL(c)
	if err != nil {
		return cacheSettings{}, err
	}
	loc, err := cachestore.ParseURL(raw)
	if err != nil {
		return cacheSettings{}, usageError(err)
	}
	var s cacheSettings
	s.Client = cachestore.Config{
		Location:  loc,
		KeyPrefix: settingString(c, flagCacheKeyPrefix),
		CachedDB:  cachedDB,
		// One server is all sessionfs reaches: its listing is what
		// lru_crawler metadump reports when the crawler is enabled.
		Metadump: true,
	}
	if pw := djangoCachePassword(); pw != "" && s.Client.Location.Password == "" {
		s.Client.Password = pw
	}
	v := settingInt64(c, flagCacheVersion)
	if v < 0 || v > 1<<31-1 {
		return cacheSettings{}, usageErrorf("--%s %d: want a VERSION from 0 to %d", flagCacheVersion, v, 1<<31-1)
	}
	if v == 0 {
		// Django's key function writes VERSION as given; 0 is a version of its own.
		return cacheSettings{}, usageErrorf("--%s 0 is not served: sessionfs builds keys with VERSION 1 or more", flagCacheVersion)
	}
	s.Client.Version = int(v)
	backend := settingString(c, flagCacheBackend)
	if backend == "" {
		backend = "django.core.cache.backends.redis.RedisCache"
		if loc.Kind == cachestore.KindMemcached {
			backend = "django.core.cache.backends.memcached.PyMemcacheCache"
		}
	}
	client, err := codec.ParseCacheClient(backend)
	if err != nil {
		return cacheSettings{}, usageError(err)
	}
	if (client == codec.ClientMemcached) != (loc.Kind == cachestore.KindMemcached) {
		return cacheSettings{}, usageErrorf("--%s %s does not talk to %s", flagCacheBackend, backend, loc)
	}
	s.Codec = codec.CacheValueOptions{Client: client, MaxDecodedSize: settingInt64(c, flagMaxDecoded)}
	if err := applyCacheOptions(&s, settingStrings(c, flagCacheOption)); err != nil {
		return cacheSettings{}, usageError(err)
	}
	if _, err := cachestore.NewKeys(s.Client.KeyPrefix, s.Client.Version, cachedDB); err != nil {
		return cacheSettings{}, usageError(err)
	}
	return s, nil
}

// settingStrings is a repeatable shared setting's values.
func settingStrings(c *cli.Context, name string) []string {
	return setting(c, name).StringSlice(name)
}

// harmlessOptions are OPTIONS of the Django cache clients that change how
// they connect, never the bytes they store: accepted and ignored.
var harmlessOptions = map[string]bool{
	// django-redis
	"SOCKET_CONNECT_TIMEOUT": true, "SOCKET_TIMEOUT": true, "CONNECTION_POOL_KWARGS": true,
	"CONNECTION_POOL_CLASS": true, "CONNECTION_POOL_CLASS_KWARGS": true, "PARSER_CLASS": true,
	"IGNORE_EXCEPTIONS": true, "LOG_IGNORED_EXCEPTIONS": true, "CLOSE_CONNECTION": true,
	"REDIS_CLIENT_CLASS": true, "REDIS_CLIENT_KWARGS": true, "SENTINELS": true, "SENTINEL_KWARGS": true,
	// Django's RedisCache
	"db": true, "pool_class": true, "parser_class": true,
	// pymemcache / pylibmc
	"no_delay": true, "ignore_exc": true, "max_pool_size": true, "use_pooling": true, "connect_timeout": true,
	"timeout": true, "default_noreply": true, "allow_unicode_keys": true, "encoding": true, "tls_context": true,
	"socket_module": true, "binary": true, "behaviors": true, "tcp_nodelay": true,
	"retry_attempts": true, "retry_timeout": true, "dead_timeout": true,
}

// applyCacheOptions applies the OPTIONS (and KEY_FUNCTION) given as
// KEY=VALUE. An option that changes the stored bytes in a way sessionfs
// does not write is refused by name; a password is refused (it belongs in
// the URL, given in a file or the environment).
func applyCacheOptions(s *cacheSettings, opts []string) error {
	client := s.Codec.Client
	for _, kv := range opts {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return fmt.Errorf("--%s %q: want KEY=VALUE", flagCacheOption, k)
		}
		switch k {
		case "KEY_FUNCTION":
			if v != defaultKeyFunction {
				return fmt.Errorf("KEY_FUNCTION %s is not served: sessionfs builds Django's default keys (KEY_PREFIX:VERSION:key) only", v)
			}
		case "PASSWORD", "password", "USERNAME", "username":
			return fmt.Errorf("--%s %s: a cache password goes in the URL, given in $%s or a file named by --%s, never on the command line",
				flagCacheOption, k, envCacheURL, flagCacheURLFile)
		case "COMPRESSOR":
			if client != codec.ClientDjangoRedis {
				return fmt.Errorf("COMPRESSOR is a django-redis option; the backend is %s", client)
			}
			cmp, err := codec.ParseCompressor(v)
			if err != nil {
				return err
			}
			s.Codec.Compressor = cmp
		case "SERIALIZER", "serializer":
			if v != "django_redis.serializers.pickle.PickleSerializer" && v != "django.core.cache.backends.redis.RedisSerializer" {
				return fmt.Errorf("%s %s is not served: sessionfs reads and writes the pickles of the default serializer only", k, v)
			}
		case "PICKLE_VERSION":
			if client != codec.ClientDjangoRedis {
				return fmt.Errorf("PICKLE_VERSION is a django-redis option; the backend is %s", client)
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("PICKLE_VERSION %q: not a number", v)
			}
			if n == -1 {
				n = 5 // pickle.HIGHEST_PROTOCOL on every Python Django 3.2+ runs on
			}
			s.Codec.Protocol = n
		case "CLIENT_CLASS":
			if v != "django_redis.client.DefaultClient" {
				return fmt.Errorf("CLIENT_CLASS %s is not served: its keys or values are not the default client's (sessionfs serves django_redis.client.DefaultClient)", v)
			}
		case "serde", "SERDE":
			return fmt.Errorf("OPTIONS %s is not served: sessionfs reads and writes the pickles of pymemcache's default serde only", k)
		default:
			if !harmlessOptions[k] {
				slog.Warn("cache option not known to sessionfs; assuming it does not change the stored bytes", "option", k)
			}
		}
	}
	return nil
}

// openCacheStore opens Django's cache or cached_db backend.
func openCacheStore(c *cli.Context, eng sessionEngine) (store.Store, error) {
	if eng.Kind == engineCachedDB && eng.Table != "" {
		return nil, usageErrorf("SESSION_ENGINE with the table %s over cached_db is not served: its cache keys are not Django's", eng.Table)
	}
	cfg, err := readCacheSettings(c, eng.Kind == engineCachedDB)
	if err != nil {
		return nil, err
	}
	age, err := cookieAge(c)
	if err != nil {
		return nil, err
	}
	cc, err := codec.NewCacheCodec(cfg.Codec)
	if err != nil {
		return nil, usageError(err)
	}
	if eng.Kind == engineCachedDB {
		// The rows first: their settings are checked before any server is
		// reached.
		rows, err := openDBStore(c, eng)
		if err != nil {
			return nil, err
		}
		client, err := cachestore.Open(cfg.Client)
		if err != nil {
			rows.Close()
			return nil, usageError(err)
		}
		st, err := cacheddb.New(cacheddb.Config{Rows: rows, Cache: client, Codec: cc})
		if err != nil {
			rows.Close()
			client.Close()
			return nil, err
		}
		return st, nil
	}
	client, err := cachestore.Open(cfg.Client)
	if err != nil {
		return nil, usageError(err)
	}
	st, err := cachestore.New(client, cachestore.StoreConfig{Codec: cc, CookieAge: age})
	if err != nil {
		client.Close()
		return nil, err
	}
	return st, nil
}

// djangoCache is CACHES[SESSION_CACHE_ALIAS] as read from Django, nil when not read.
func djangoCache() *djangosettings.Cache {
	djangoLoaded.Lock()
	defer djangoLoaded.Unlock()
	if djangoLoaded.settings == nil {
		return nil
	}
	return djangoLoaded.settings.Cache
}

// djangoCacheURL is the cache URL of Django's CACHES entry, "" when not read.
// Django's Redis backends take the first LOCATION as the server they write
// to (the others are replicas); a Memcached LOCATION is host:port, and
// sessionfs reaches one Memcached server only.
func djangoCacheURL() (string, error) {
	dc := djangoCache()
	if dc == nil || len(dc.Locations) == 0 {
		return "", nil
	}
	loc := dc.Locations[0]
	if client, err := codec.ParseCacheClient(dc.Backend); err != nil || client != codec.ClientMemcached {
		return loc, nil
	}
	if len(dc.Locations) > 1 {
		return "", usageErrorf("CACHES[%q] names %d Memcached servers; sessionfs reaches one server only (each client places keys its own way)",
			dc.Alias, len(dc.Locations))
	}
	if strings.HasPrefix(loc, "unix:") || strings.HasPrefix(loc, "/") {
		return "", usageErrorf("CACHES[%q]: a Memcached on a Unix socket is not served; give --%s memcached://host:port", dc.Alias, flagCacheURL)
	}
	return "memcached://" + loc, nil
}

// djangoCachePassword is the cache password of Django's OPTIONS.
func djangoCachePassword() string {
	if dc := djangoCache(); dc != nil {
		return string(dc.Password)
	}
	return ""
}

// applyDjangoCache makes Django's CACHES entry the value of each cache
// setting not given on the command line or in the environment. The URL
// and the password are read where they are needed, never made flag values.
func applyDjangoCache(c *cli.Context) error {
	dc := djangoCache()
	if dc == nil {
		return nil
	}
	if dc.KeyFunction != "" && dc.KeyFunction != defaultKeyFunction {
		return usageErrorf("CACHES[%q] KEY_FUNCTION %s is not served: sessionfs builds Django's default keys (KEY_PREFIX:VERSION:key) only",
			dc.Alias, dc.KeyFunction)
	}
	values := []djangoValue{
		{flagCacheBackend, dc.Backend},
		{flagCacheKeyPrefix, dc.KeyPrefix},
		{flagCacheVersion, strconv.Itoa(dc.Version)},
	}
	names := make([]string, 0, len(dc.Options))
	for k := range dc.Options {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		values = append(values, djangoValue{flagCacheOption, fmt.Sprintf("%s=%v", k, dc.Options[k])})
	}
	return fillFromDjango(c, values, "CACHES")
}
