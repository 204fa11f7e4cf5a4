// Package cacheddb is Django's cached_db session backend
// (SESSION_ENGINE = "django.contrib.sessions.backends.cached_db") behind
// the store.Store contract: the database row is the signed, authoritative
// copy of each session, and Django keeps a second copy, the session dict
// pickled by the cache client, under KEY_PREFIX:VERSION:
// django.contrib.sessions.cached_db<key>, which its load() reads first.
//
// A Store composes a store.Store of the rows (the database backend) and a
// cache client of cached_db's keys:
//
//   - reads (Stat, Load, ReadRaw, Scan, ScanUser) are the rows';
//   - a change is made to the row, then the cache copy is deleted, never
//     written: Django loads the row on its next read and caches it again,
//     and sessionfs never writes a pickle there. Save: the row's guarded
//     save, then DEL; RemoveIf: the row's DELETE, then DEL, in this order
//     (Django's delete(): deleting the copy first would let a request
//     re-cache the row before it goes); Renew and Rename: the row's, then
//     DEL of the copies (their TTLs no longer match the row);
//   - a copy without its row is a session Django still serves: RemoveIf of
//     a key with no row judges and deletes the copy, so that a revoke (and
//     its look again after a request in flight put the copy back) leaves
//     nothing Django can load;
//   - Stats counts the copies that differ from their rows
//     (Stats.CacheDiffers), and Divergent lists them, for verify.
package cacheddb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/cachestore"
)

// Config holds the two halves of a cached_db site.
type Config struct {
	Rows  store.Store       // the database table's sessions (the db backend); required
	Cache cachestore.Client // the cache, with cached_db's keys (cachestore.Config.CachedDB); required
	Codec *codec.CacheCodec // the cache client's value format, to read the copies; required
	// RecheckAfter is how long a Django request's save may take: revoke
	// looks again after it (store.Description.RecheckAfter). Default
	// cachestore.DefaultRecheckAfter.
	RecheckAfter time.Duration
}

// Store is store.Store for Django's cached_db backend.
type Store struct {
	rows  store.Store
	cache cachestore.Client
	codec *codec.CacheCodec
	cfg   Config
}

var _ store.Store = (*Store)(nil)

// New checks cfg and returns the store.
func New(cfg Config) (*Store, error) {
	switch {
	case cfg.Rows == nil:
		return nil, errors.New("cached_db store: no database store")
	case cfg.Cache == nil:
		return nil, errors.New("cached_db store: no cache client")
	case cfg.Codec == nil:
		return nil, errors.New("cached_db store: no cache value codec")
	case !cfg.Cache.Keys().CachedDB():
		return nil, errors.New("cached_db store: the cache client has backends.cache's keys; cached_db keeps its copies under django.contrib.sessions.cached_db<key>")
	}
	if cfg.RecheckAfter <= 0 {
		cfg.RecheckAfter = cachestore.DefaultRecheckAfter
	}
	return &Store{rows: cfg.Rows, cache: cfg.Cache, codec: cfg.Codec, cfg: cfg}, nil
}

// Close closes the database store and the cache client.
func (s *Store) Close() error {
	return errors.Join(s.rows.Close(), s.cache.Close())
}

// Describe is the rows' description, as cached_db: Django's own writers
// are unguarded here too, since a request's cache SET after a removal puts
// back a copy Django then serves.
func (s *Store) Describe() store.Description {
	d := s.rows.Describe()
	d.Backend = "cached_db"
	d.Location = fmt.Sprintf("%s; cache copies in %s, keys %s<session key>", d.Location, s.cache, s.cache.Keys().Prefix())
	d.UnguardedWriters, d.RecheckAfter = true, s.cfg.RecheckAfter
	return d
}

// Stat is the row's Meta.
func (s *Store) Stat(ctx context.Context, key string) (store.Meta, error) {
	return s.rows.Stat(ctx, key)
}

// Load reads the session from its row.
func (s *Store) Load(ctx context.Context, key string) (*store.Session, error) {
	return s.rows.Load(ctx, key)
}

// ReadRaw returns the row's session_data.
func (s *Store) ReadRaw(ctx context.Context, key string) ([]byte, store.Version, error) {
	return s.rows.ReadRaw(ctx, key)
}

// Scan lists the rows.
func (s *Store) Scan(ctx context.Context, fn func(store.Entry) error) error {
	return s.rows.Scan(ctx, fn)
}

// ScanUser lists the rows of userID.
func (s *Store) ScanUser(ctx context.Context, userID string, fn func(store.Entry) error) error {
	return s.rows.ScanUser(ctx, userID, fn)
}

// Expired is the rows' rule.
func (s *Store) Expired(e store.Entry, now time.Time) bool { return s.rows.Expired(e, now) }

// dropCopy deletes key's cache copy, if any: Django reads the row next
// time and caches it again.
func (s *Store) dropCopy(ctx context.Context, key string) error {
	err := s.cache.Delete(ctx, key)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("session %s: the database row is changed, but its cache copy, which Django reads first, could not be deleted "+
		"(Django serves the old copy until its TTL ends; delete the key %s%s): %w", key, s.cache.Keys().Prefix(), key, err)
}

// copyEntry is the Entry of a cache copy, and its session JSON when it
// decodes.
func (s *Store) copyEntry(it cachestore.Item) (store.Entry, []byte) {
	m := store.Meta{Key: it.Key, Version: store.Version(it.Version), RawSize: it.Size, Expiry: it.Expiry}
	if it.Err != nil {
		return store.Entry{Meta: m, Err: fmt.Errorf("session %s: cache copy: %w", it.Key, it.Err)}, nil
	}
	js, info, err := s.codec.Decode(it.Value, it.Flags)
	if err != nil {
		return store.Entry{Meta: m, Err: fmt.Errorf("session %s: cache copy: %w", it.Key, err)}, nil
	}
	if err := m.FromSession(js, codec.Info{Serializer: codec.SerializerPickle, Compressed: info.Compressed}); err != nil {
		return store.Entry{Meta: m, Err: err}, nil
	}
	return store.Entry{Meta: m}, js
}
