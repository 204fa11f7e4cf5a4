package dbstore

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// SessionConfig holds what Sessions needs beside the table (Config): the
// session settings of the site, named after Django's, as filestore.Config.
type SessionConfig struct {
	CookieAge time.Duration // SESSION_COOKIE_AGE; default store.DefaultCookieAge
	Codec     *codec.Codec  // signs and verifies session_data, with the file backend's salt
	Encode    codec.EncodeOptions
	// MaxSessionSize bounds session_data: a save of more is refused before
	// any statement, a row holding more is listed as too large and never
	// decoded. Default store.DefaultMaxSessionSize.
	MaxSessionSize int64
	Now            func() time.Time // clock for expiry; default time.Now
}

// sessionCodec is what Sessions needs of *codec.Codec; tests wrap the real
// codec to count decodes.
type sessionCodec interface {
	Decode(data []byte) ([]byte, codec.Info, error)
	Encode(sessionJSON []byte, opt codec.EncodeOptions) ([]byte, error)
}

// Sessions is store.Store for Django's database backend: one row per
// session, session_data decoded by the codec as the file backend's files
// are, and expire_date as Django's db backend reads and writes it.
//
// What differs from the file backend, each as Django's db backend does it:
//
//   - Version is a digest of session_data and expire_date as stored; a
//     guarded write compares the stored values themselves (UpdateIf).
//   - Expiry is expire_date, and a session is expired from that instant on
//     (load() selects expire_date > now): Meta.ExpiryInstant is set, so
//     Meta.Expired and Expired agree with Django. Undecodable rows expire
//     the same way (clear_expired looks only at expire_date).
//   - ModTime, what ls -l shows, is when Django last saved the row:
//     expire_date minus the age that save gave it (SESSION_COOKIE_AGE, or
//     a numeric _session_expiry). For an absolute _session_expiry it is the
//     signing time of session_data (format C), else expire_date minus
//     SESSION_COOKIE_AGE. An edit with KeepExpiry keeps it, as the file
//     backend keeps a file's mtime; Renew (touch) sets it.
//   - A save without KeepExpiry, and one that changes _session_expiry,
//     writes expire_date as Django's get_expiry_date() would.
//   - Rows whose key is not Django's shape are listed as undecodable
//     entries (store.ErrInvalidKey), their key escaped for display
//     (DisplayKey); Stat, ReadRaw and RemoveIf take that name, no other
//     operation does.
//   - There is no must-create placeholder (Meta.Empty is never set) and no
//     leftover of an interrupted save (ClearResult.Leftovers is empty).
type Sessions struct {
	db    *Store
	cfg   SessionConfig
	codec sessionCodec
	naive *time.Location // TIME_ZONE: the zone of a naive _session_expiry date
	cache *metaCache
	gen   atomic.Uint32 // Scan generation, for sweeping the cache
}

var _ store.Store = (*Sessions)(nil)

// NewSessions serves the sessions of the open table db. Close closes db.
func NewSessions(db *Store, cfg SessionConfig) (*Sessions, error) {
	if db == nil {
		return nil, errors.New("database sessions: no database")
	}
	if cfg.Codec == nil {
		return nil, errors.New("database sessions: no codec")
	}
	if cfg.CookieAge == 0 {
		cfg.CookieAge = store.DefaultCookieAge
	}
	if cfg.CookieAge < 0 {
		return nil, fmt.Errorf("database sessions: negative cookie age %v", cfg.CookieAge)
	}
	if cfg.MaxSessionSize <= 0 {
		cfg.MaxSessionSize = store.DefaultMaxSessionSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	naive := time.UTC
	if tz := db.cfg.TimeZone; tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("database sessions: TIME_ZONE %q: %w", tz, err)
		}
		naive = loc
	}
	return &Sessions{db: db, cfg: cfg, codec: cfg.Codec, naive: naive, cache: newMetaCache()}, nil
}

// DB is the table the sessions are in.
func (s *Sessions) DB() *Store { return s.db }

// Config returns the effective session settings (defaults filled in).
func (s *Sessions) Config() SessionConfig { return s.cfg }

// Close closes the database and releases the metadata cache.
func (s *Sessions) Close() error {
	s.cache.release()
	return s.db.Close()
}

// Describe says the sessions are rows of a database table, signed with
// SECRET_KEY. The location never holds the password.
func (s *Sessions) Describe() store.Description {
	loc := s.db.cfg.String()
	if s.db.cfg.Table != DefaultTable {
		loc += " table " + s.db.cfg.Table
	}
	return store.Description{Backend: "db", Location: loc, Signed: true}
}

// Expired reports whether Django's load() at now finds nothing for the row
// of a Scan entry: expire_date <= now, whatever the row holds. It is what
// ClearExpired removes (Django's clear_expired deletes expire_date < now:
// the two differ only for a row expiring at exactly now).
func (s *Sessions) Expired(e store.Entry, now time.Time) bool {
	return !e.Expiry.IsZero() && !e.Expiry.After(now)
}
