package cachestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// Store is store.Store for Django's cache session backend (SESSION_ENGINE =
// "django.contrib.sessions.backends.cache"): the session dicts the site's
// cache client pickled under KEY_PREFIX:VERSION:django.contrib.sessions.cache<key>,
// read and written through a Client. What differs from the file backend:
//
//   - Nothing is signed (Describe().Signed is false: rekey has nothing to
//     do). A value that does not unpickle, is not a dict, or names a class
//     outside the codec's allow-list is an Entry.Err, never executed and
//     never written back. Only what the codec's restricted pickle writer
//     builds from JSON values and the allow-listed tagged forms is written,
//     in the protocol of the site's client.
//   - The key's TTL is the only record of when a session ends. Meta.Expiry
//     is it, read to the second, or exactly what this store's own write
//     set; it stays the same instant while the TTL does not change. A key
//     without a TTL (Django never writes one) never expires. Meta.ModTime, what ls -l shows, is when Django
//     last saved the session as far as the TTL tells: the expiry minus the
//     life Django gave it (SESSION_COOKIE_AGE, or the seconds of a numeric
//     _session_expiry); a datetime _session_expiry leaves no trace of the
//     save, and then, as for a value that does not decode, it is the expiry
//     minus SESSION_COOKIE_AGE. ModTime is never later than now (give or
//     take the second the expiry is rounded to); a key without a TTL has
//     the Unix epoch.
//   - The server drops a key when its TTL ends: nothing listed is Expired,
//     and ClearExpired has nothing to do.
//   - Django's own save is a GET then a SET with nothing in between to
//     notice a removal (Describe().UnguardedWriters): a request in flight
//     can put back a session just removed.
type Store struct {
	c     Client
	cfg   StoreConfig
	codec valueCodec
	meta  *metaCache
}

// valueCodec is what the store needs of *codec.CacheCodec; tests wrap the
// real codec to count decodes.
type valueCodec interface {
	Decode(value []byte, flags uint32) ([]byte, codec.CacheValueInfo, error)
	Encode(sessionJSON []byte) ([]byte, uint32, error)
	Options() codec.CacheValueOptions
}

var _ store.Store = (*Store)(nil)

// StoreConfig holds the settings of a Store, named after Django's.
type StoreConfig struct {
	// Codec reads and writes the values of the site's cache client
	// (CACHES[SESSION_CACHE_ALIAS]["BACKEND"] and its OPTIONS); required.
	Codec     *codec.CacheCodec
	CookieAge time.Duration // SESSION_COOKIE_AGE; default store.DefaultCookieAge
	// RecheckAfter is how long a Django request's GET-then-SET may take:
	// revoke looks again after it (Description.RecheckAfter). Default 2 s.
	RecheckAfter time.Duration
	Now          func() time.Time // default time.Now
}

// DefaultRecheckAfter is StoreConfig.RecheckAfter's default: longer than
// most requests take between loading a session and saving it.
const DefaultRecheckAfter = 2 * time.Second

// New returns the session store over c, a client of the cache backend's
// keys (not cached_db's).
func New(c Client, cfg StoreConfig) (*Store, error) {
	if c == nil {
		return nil, errors.New("cache store: no cache client")
	}
	if c.Keys().CachedDB() {
		return nil, errors.New("cache store: the client has cached_db's keys; backends.cache stores its sessions under django.contrib.sessions.cache<key>")
	}
	if cfg.Codec == nil {
		return nil, errors.New("cache store: no cache value codec")
	}
	if cfg.CookieAge == 0 {
		cfg.CookieAge = store.DefaultCookieAge
	}
	if cfg.CookieAge < 0 {
		return nil, fmt.Errorf("cache store: negative cookie age %v", cfg.CookieAge)
	}
	if cfg.RecheckAfter <= 0 {
		cfg.RecheckAfter = DefaultRecheckAfter
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{c: c, cfg: cfg, codec: cfg.Codec, meta: newMetaCache()}, nil
}

// Close closes the cache client and returns the metadata cache's memory.
func (s *Store) Close() error {
	s.meta.release()
	return s.c.Close()
}

// Config returns the effective settings (defaults filled in).
func (s *Store) Config() StoreConfig { return s.cfg }

// Describe says the sessions are unsigned values in a cache server, and
// that Django's own writers are unguarded.
func (s *Store) Describe() store.Description {
	return store.Description{
		Backend:          "cache",
		Location:         fmt.Sprintf("%s, keys %s<session key>", s.c, s.c.Keys().Prefix()),
		Signed:           false,
		UnguardedWriters: true,
		RecheckAfter:     s.cfg.RecheckAfter,
	}
}

// Expired is always false: the server drops a key when its TTL ends, so
// every session a Scan lists is one Django's load() returns.
func (s *Store) Expired(store.Entry, time.Time) bool { return false }

// ClearExpired has nothing to do and does nothing: the cache server drops
// every session whose TTL ends (Django's clear_expired is a no-op for this
// backend too). The result is empty; nothing is scanned.
func (s *Store) ClearExpired(context.Context, store.ClearOptions, func(store.Entry)) (store.ClearResult, error) {
	return store.ClearResult{}, nil
}

// Stats counts the sessions in one Scan (store.CountStats): none is
// expired; a Memcached without a listing is ErrUnsupported.
func (s *Store) Stats(ctx context.Context, seen func(store.Entry)) (store.Stats, error) {
	return store.CountStats(ctx, s, s.cfg.Now(), seen)
}

// ttl turns Django's expiry age into the TTL the site's client sets:
// django-redis keeps milliseconds (PX), the others whole seconds (EX, or
// Memcached's exptime), truncated as Python's int() does.
func (s *Store) ttl(age time.Duration) time.Duration {
	if s.codec.Options().Client == codec.ClientDjangoRedis {
		return age.Truncate(time.Millisecond)
	}
	return age.Truncate(time.Second)
}

// expiryOf is a value's Meta.Expiry: its TTL read as an instant, to the
// second, or what this store's own write of that version set (exactly);
// the same instant while the TTL does not change (stableExpiry).
func (s *Store) expiryOf(it Item) time.Time {
	if it.Expiry.IsZero() {
		return time.Time{}
	}
	return s.meta.stableExpiry(it.Key, it.Version, it.Expiry.Round(time.Second))
}

// times are a value's Meta.Expiry and Meta.ModTime (see Store).
func (s *Store) times(it Item, f facts, now time.Time) (expiry, modTime time.Time) {
	if it.Expiry.IsZero() {
		return time.Time{}, time.Unix(0, 0).UTC()
	}
	expiry = s.expiryOf(it)
	age := f.age
	if age <= 0 || f.err != nil {
		age = s.cfg.CookieAge
	}
	modTime = expiry.Add(-age)
	if modTime.After(now.Add(2 * time.Second)) { // a TTL longer than the age explains: saved just now at the latest
		modTime = now.Truncate(time.Second)
	}
	return expiry, modTime
}

// lifeOf is the life Django gave a session it saved, as facts.age: the
// same whenever it was saved for SESSION_COOKIE_AGE or a number of
// seconds; 0 for a datetime, whose age depends on the time of the save.
func (s *Store) lifeOf(sessionJSON []byte) time.Duration {
	t0 := s.cfg.Now()
	a, err1 := expiryAge(sessionJSON, t0, s.cfg.CookieAge)
	b, err2 := expiryAge(sessionJSON, t0.Add(time.Hour), s.cfg.CookieAge)
	if err1 != nil || err2 != nil || a != b || a <= 0 {
		return 0
	}
	return a
}

// decode decodes a value read from the cache: its session JSON and facts.
// f.err wraps the codec's error (or, for a value that could not be read,
// the reason) with the session key.
func (s *Store) decode(it Item) ([]byte, facts) {
	if it.Err != nil {
		return nil, facts{err: itemError(it)}
	}
	js, info, err := s.codec.Decode(it.Value, it.Flags)
	if err != nil {
		return nil, facts{err: fmt.Errorf("session %s: %w", it.Key, err)}
	}
	f, err := s.factsOf(it.Key, js, info)
	if err != nil {
		return nil, facts{err: err}
	}
	return js, f
}

// factsOf derives the facts of decoded session JSON.
func (s *Store) factsOf(key string, sessionJSON []byte, info codec.CacheValueInfo) (facts, error) {
	var m store.Meta
	m.Key = key
	if err := m.FromSession(sessionJSON, codec.Info{}); err != nil {
		return facts{}, err
	}
	return facts{size: m.Size, userID: m.UserID, compressed: info.Compressed, age: s.lifeOf(sessionJSON)}, nil
}

// itemError is the error of a value the client could not read: over the
// size bound, or a Redis key of another type, which is treated as the
// file backend treats a fifo planted under a session's name (never read,
// never removed).
func itemError(it Item) error {
	if errors.Is(it.Err, ErrWrongType) {
		return fmt.Errorf("session %s: %w (%w)", it.Key, store.ErrNotRegular, it.Err)
	}
	return fmt.Errorf("session %s: %w", it.Key, it.Err)
}

// entry is the Scan entry of an item with its facts.
func (s *Store) entry(it Item, f facts, now time.Time) store.Entry {
	expiry, modTime := s.times(it, f, now)
	return store.Entry{Meta: f.meta(it, expiry, modTime), Err: f.err}
}
