// Package cachestore is the cache layer of sessionfs's cache backends: the
// raw operations on the Redis or Memcached server that holds Django's
// sessions under SESSION_ENGINE = "django.contrib.sessions.backends.cache"
// (or the cache half of cached_db). It knows keys, values as bytes, TTLs and
// versions; what a value means is the codec's business
// (codec.CacheCodec), and the session contract is built on top of it.
//
// Every call has a deadline (dial, read, write): a server that goes away
// gives an error, never a hang. Errors wrap the store package's sentinels
// (store.ErrNotFound, store.ErrExists, store.ErrConflict,
// store.ErrInvalidKey, store.ErrTooLarge) or ErrUnsupported, and never
// contain a password.
package cachestore

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// ErrUnsupported: the server cannot do what was asked (listing a Memcached
// without lru_crawler metadump). It is a store.ErrNoListing, which the
// mount turns into lookups by exact name only.
var ErrUnsupported = fmt.Errorf("%w: not supported by this cache server", store.ErrNoListing)

// Kind is the cache server's protocol.
type Kind int

const (
	KindRedis Kind = iota + 1
	KindMemcached
)

func (k Kind) String() string {
	switch k {
	case KindRedis:
		return "redis"
	case KindMemcached:
		return "memcached"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Location is a parsed cache URL (Django's LOCATION in URL form):
//
//	redis://[user[:password]@]host[:6379][/db]
//	rediss://...                            (TLS)
//	unix:///path/to/redis.sock[?db=N]       (Redis over a Unix socket)
//	memcached://host[:11211]                (one Memcached server)
type Location struct {
	Kind     Kind
	Network  string // "tcp" or "unix"
	Addr     string // host:port, or the socket path
	TLS      bool
	DB       int
	Username string
	Password string // from the URL; callers give passwords through a file or the environment instead
}

// String is the location for messages: never the password.
func (l Location) String() string {
	switch {
	case l.Kind == KindMemcached:
		return "memcached://" + l.Addr
	case l.Network == "unix":
		return fmt.Sprintf("unix://%s?db=%d", l.Addr, l.DB)
	}
	scheme := "redis"
	if l.TLS {
		scheme = "rediss"
	}
	user := ""
	if l.Username != "" {
		user = url.User(l.Username).String() + "@"
	}
	return fmt.Sprintf("%s://%s%s/%d", scheme, user, l.Addr, l.DB)
}

// HasPassword reports whether a cache URL carries a password, which a
// command line must refuse (argv is visible to every user of the machine).
func HasPassword(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return strings.Contains(rawURL, "@") // unparsable: assume the worst
	}
	_, ok := u.User.Password()
	return ok || u.Query().Has("password")
}

// ParseURL parses a cache URL. Errors never repeat the URL (it may hold a
// password).
func ParseURL(rawURL string) (Location, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Location{}, errors.New("cache URL: not a URL (want redis://host:port/db, rediss://, unix:///path or memcached://host:port)")
	}
	var l Location
	if u.User != nil {
		l.Username = u.User.Username()
		l.Password, _ = u.User.Password()
	}
	q := u.Query()
	if p := q.Get("password"); p != "" {
		l.Password = p
	}
	switch u.Scheme {
	case "redis", "rediss":
		l.Kind, l.Network, l.TLS = KindRedis, "tcp", u.Scheme == "rediss"
		if u.Hostname() == "" {
			return Location{}, fmt.Errorf("cache URL: %s:// needs a host", u.Scheme)
		}
		port := u.Port()
		if port == "" {
			port = "6379"
		}
		l.Addr = joinHostPort(u.Hostname(), port)
		if db := strings.Trim(u.Path, "/"); db != "" {
			if l.DB, err = parseDB(db); err != nil {
				return Location{}, err
			}
		}
	case "unix":
		l.Kind, l.Network = KindRedis, "unix"
		l.Addr = u.Path
		if !strings.HasPrefix(l.Addr, "/") {
			return Location{}, errors.New("cache URL: unix:// needs an absolute socket path (unix:///run/redis.sock)")
		}
	case "memcached":
		l.Kind, l.Network = KindMemcached, "tcp"
		if u.Hostname() == "" || strings.Trim(u.Path, "/") != "" {
			return Location{}, errors.New("cache URL: memcached://host:port names one server")
		}
		port := u.Port()
		if port == "" {
			port = "11211"
		}
		l.Addr = joinHostPort(u.Hostname(), port)
		if l.Username != "" || l.Password != "" {
			return Location{}, errors.New("cache URL: Memcached's text protocol has no user or password")
		}
	default:
		return Location{}, fmt.Errorf("cache URL: scheme %q is not supported (want redis, rediss, unix or memcached)", u.Scheme)
	}
	if db := q.Get("db"); db != "" {
		if l.Kind != KindRedis {
			return Location{}, errors.New("cache URL: db= is a Redis setting")
		}
		if l.DB, err = parseDB(db); err != nil {
			return Location{}, err
		}
	}
	return l, nil
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

func parseDB(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("cache URL: database %q is not a number", s)
	}
	return n, nil
}

// Config is what a cache client needs.
type Config struct {
	Location Location
	// Password overrides Location.Password (given through a file or the
	// environment); Username likewise.
	Password, Username string

	KeyPrefix string // Django's KEY_PREFIX
	Version   int    // Django's VERSION; 0 means 1
	CachedDB  bool   // keys of backends.cached_db instead of backends.cache

	DialTimeout  time.Duration // default 5 s
	ReadTimeout  time.Duration // default 5 s
	WriteTimeout time.Duration // default 5 s

	// MaxValueSize bounds a value read into memory; a larger one is reported
	// as store.ErrTooLarge and not read. 0 means 16 MiB.
	MaxValueSize int64
	// ScanCount is the SCAN COUNT hint and the batch size of a listing; 0 means 1000.
	ScanCount int
	// Metadump lets a Memcached listing use lru_crawler metadump (one server,
	// crawler enabled). Without it a Memcached cannot list.
	Metadump bool
}

func (c *Config) defaults() {
	if c.Version == 0 {
		c.Version = 1
	}
	for _, d := range []*time.Duration{&c.DialTimeout, &c.ReadTimeout, &c.WriteTimeout} {
		if *d <= 0 {
			*d = 5 * time.Second
		}
	}
	if c.MaxValueSize <= 0 {
		c.MaxValueSize = 16 << 20
	}
	if c.ScanCount <= 0 {
		c.ScanCount = 1000
	}
	if c.Password == "" {
		c.Password = c.Location.Password
	}
	if c.Username == "" {
		c.Username = c.Location.Username
	}
}

// Keys builds and parses the cache keys of sessions: Django's default
// KEY_FUNCTION, KEY_PREFIX:VERSION:django.contrib.sessions.cache<key>
// (…sessions.cached_db<key> for cached_db).
type Keys struct {
	prefix string // everything before the session key
}

// memcachedMaxKey is Memcached's key length limit (Django warns past it).
const memcachedMaxKey = 250

// NewKeys checks the prefix parts: Memcached keys are at most 250 bytes of
// no space or control character, and Django's own key check says the same.
func NewKeys(keyPrefix string, version int, cachedDB bool) (Keys, error) {
	if version == 0 {
		version = 1
	}
	for _, r := range keyPrefix {
		if r <= ' ' || r == 0x7f {
			return Keys{}, fmt.Errorf("KEY_PREFIX %q holds a space or control character, which no cache key may", keyPrefix)
		}
	}
	store := "django.contrib.sessions.cache"
	if cachedDB {
		store = "django.contrib.sessions.cached_db"
	}
	k := Keys{prefix: fmt.Sprintf("%s:%d:%s", keyPrefix, version, store)}
	if len(k.prefix)+minKeyLen > memcachedMaxKey {
		return Keys{}, fmt.Errorf("KEY_PREFIX %q leaves no room for a session key in a cache key", keyPrefix)
	}
	return k, nil
}

// Prefix is the part of every cache key before the session key.
func (k Keys) Prefix() string { return k.prefix }

// CachedDB reports whether these are the keys of backends.cached_db.
func (k Keys) CachedDB() bool { return strings.HasSuffix(k.prefix, "cached_db") }

const minKeyLen = 8 // Django's _validate_session_key

// CacheKey is the cache key of a session key, or store.ErrInvalidKey for a
// key that is not Django's shape ([a-z0-9], at least 8 characters, and short
// enough for a cache key): nothing else ever reaches the server.
func (k Keys) CacheKey(session string) (string, error) {
	if !k.validSession(session) {
		return "", fmt.Errorf("%w: %q (want %d to %d characters from [a-z0-9])",
			store.ErrInvalidKey, session, minKeyLen, memcachedMaxKey-len(k.prefix))
	}
	return k.prefix + session, nil
}

// SessionKey is the session key of a cache key, false for a key that is not
// a session of this prefix.
func (k Keys) SessionKey(cacheKey string) (string, bool) {
	s, ok := strings.CutPrefix(cacheKey, k.prefix)
	if !ok || !k.validSession(s) {
		return "", false
	}
	return s, true
}

func (k Keys) validSession(s string) bool {
	if len(s) < minKeyLen || len(k.prefix)+len(s) > memcachedMaxKey {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Version identifies one stored version of a value, opaque and comparable
// with ==: Redis, the SHA-1 of the value (what a server-side script can
// compare); Memcached, the item's CAS id. The zero Version is "no version".
// Its size is the store contract's, so the adapter converts it as is.
type Version [24]byte

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v == Version{} }

func redisVersion(value []byte) Version {
	var v Version
	v[0] = 'r'
	sum := sha1.Sum(value)
	copy(v[1:], sum[:])
	return v
}

func (v Version) sha1Hex() string { return fmt.Sprintf("%x", v[1:21]) }

// redisSizeVersion is the version of a Redis value over the size bound,
// which is never read (so never hashed): its length.
func redisSizeVersion(size int64) Version {
	var v Version
	v[0] = 's'
	binary.BigEndian.PutUint64(v[1:], uint64(size))
	return v
}

func (v Version) redisSize() (int64, bool) {
	if v[0] != 's' {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v[1:9])), true
}

func memcachedVersion(cas uint64) Version {
	var v Version
	v[0] = 'm'
	binary.BigEndian.PutUint64(v[1:], cas)
	return v
}

func (v Version) cas() uint64 { return binary.BigEndian.Uint64(v[1:9]) }

// Item is one stored value.
type Item struct {
	Key     string    // the session key (not the cache key)
	Value   []byte    // nil when Err is set
	Flags   uint32    // Memcached flags (the Python clients say pickle with 1); 0 on Redis
	Size    int64     // bytes stored
	Expiry  time.Time // when the server drops it (the TTL read, plus now); zero: no expiry
	Version Version
	// Err is set, in a listing, for a value that could not be read
	// (store.ErrTooLarge, a Redis key of another type).
	Err error
}

// KeepTTL, as the TTL of CompareAndSet, keeps the value's remaining TTL.
const KeepTTL time.Duration = 0

// Client is what both servers do. Values are bytes; TTLs are durations
// (positive; Django deletes rather than store a TTL of zero or less).
type Client interface {
	// Get reads a value, its TTL and its version; store.ErrNotFound when
	// absent. A value that cannot be read (over MaxValueSize, a Redis key
	// of another type) is an error wrapping Item.Err, and the Item says
	// what is known of it: Size, Expiry, and for one over the size bound a
	// Version that DeleteIf takes.
	Get(ctx context.Context, key string) (Item, error)
	// Add stores a value that must not exist yet (SET NX / add):
	// store.ErrExists when it does.
	Add(ctx context.Context, key string, value []byte, flags uint32, ttl time.Duration) (Item, error)
	// CompareAndSet replaces the value if it is still version ifMatch:
	// store.ErrNotFound when gone, store.ErrConflict when changed. ttl
	// KeepTTL keeps the remaining TTL (Redis exactly; Memcached to the second).
	CompareAndSet(ctx context.Context, key string, ifMatch Version, value []byte, flags uint32, ttl time.Duration) (Item, error)
	// SetTTL renews the TTL (Django's get_expiry_age at a save), if the
	// value is still version ifMatch (zero: any version).
	SetTTL(ctx context.Context, key string, ifMatch Version, ttl time.Duration) (Item, error)
	// DeleteIf deletes the value if it is still version ifMatch.
	DeleteIf(ctx context.Context, key string, ifMatch Version) error
	// Delete deletes the value; store.ErrNotFound when there was none.
	Delete(ctx context.Context, key string) error
	// Scan calls fn for every session value under the key prefix, each key
	// once, with bounded memory; a Memcached without metadump gives
	// ErrUnsupported. An error from fn stops the scan and is returned.
	Scan(ctx context.Context, fn func(Item) error) error
	// Ping checks the server answers (and the password is right).
	Ping(ctx context.Context) error
	// Keys is the key builder of this client.
	Keys() Keys
	// MaxValueSize is the largest value Get and Scan read (Config.MaxValueSize).
	MaxValueSize() int64
	// String names the server for messages, without a password.
	String() string
	Close() error
}

// Open connects to the server of cfg.Location (lazily: the first call dials).
func Open(cfg Config) (Client, error) {
	cfg.defaults()
	keys, err := NewKeys(cfg.KeyPrefix, cfg.Version, cfg.CachedDB)
	if err != nil {
		return nil, err
	}
	switch cfg.Location.Kind {
	case KindRedis:
		return newRedis(cfg, keys), nil
	case KindMemcached:
		if cfg.Password != "" || cfg.Username != "" {
			return nil, errors.New("memcached: the text protocol has no user or password")
		}
		return newMemcached(cfg, keys), nil
	}
	return nil, fmt.Errorf("cache: unknown server kind %v", cfg.Location.Kind)
}
