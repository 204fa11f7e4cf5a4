// Package store is the contract between sessionfs's callers (the mount in
// fusefs, the CLI) and Django's session backends: the Store interface, the
// types it speaks in, and the rules that do not depend on where sessions
// are kept (expiry from the session's own members, the user id, Stats
// counting, ls filters).
//
// A backend lives in a package of its own beside this one (store/filestore
// for SESSION_FILE_PATH) and implements every method of Store. Policy that
// callers share (a save or removal with its audit record, revoke, rekey,
// gc) is written once over Store, in store/change.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// Errors callers test with errors.Is. Errors from the codec (codec.ErrBadSignature,
// codec.ErrCorrupt, ...) pass through wrapped.
var (
	ErrInvalidKey = errors.New("invalid session key")               // not a key Django would use: nothing was touched
	ErrNotFound   = errors.New("session not found")                 // nothing stored under the key
	ErrExists     = errors.New("session already exists")            // Django's CreateError (must-create on an existing key)
	ErrNotRegular = errors.New("not a regular file")                // symlink, fifo, device or directory planted under a session's name
	ErrTooLarge   = errors.New("session file too large")            // stored bytes over the backend's bound
	ErrConflict   = errors.New("session changed since it was read") // SaveOptions.IfMatch (or a Renew's ifMatch) failed: a lost update avoided

	// Errors of backends that are servers (a database): each wraps the
	// backend's own error, so the mount maps every backend through one table.
	ErrReadOnly      = errors.New("session store is read-only")                // writes refused: a read-only database or replica
	ErrUnavailable   = errors.New("session store unavailable")                 // cannot be reached, refused the login, or did not answer in time
	ErrPermission    = errors.New("session store denies the operation")        // the backend's user lacks a privilege
	ErrCreateRefused = errors.New("session store cannot create sessions here") // a new session needs values sessionfs does not have
	ErrNoListing     = errors.New("session store cannot list its sessions")    // a Memcached without lru_crawler metadump: lookups by exact key only
)

// Defaults, as in Django's global settings, and the bound on a stored
// session every backend applies.
const (
	DefaultCookieName     = "sessionid"
	DefaultCookieAge      = 1209600 * time.Second // two weeks
	DefaultMaxSessionSize = 16 << 20              // bytes as stored; larger ones are ErrTooLarge, never read
)

// Version identifies one stored version of a session. It is opaque to
// callers and comparable with ==: it changes whenever the session is
// written, by Django or by sessionfs. A backend packs what identifies a
// version for it (the file backend: inode, size and mtime). The zero
// Version is "no version": nothing stored, or nothing known.
type Version [24]byte

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v == Version{} }

// Meta is what is known about a stored session without handing out its data.
type Meta struct {
	Key     string
	Version Version
	RawSize int64      // bytes the backend stores for the session
	ModTime time.Time  // when it was last saved, as the backend records it: what ls -l shows
	Size    int64      // length of the pretty JSON rendering (codec.Pretty)
	Info    codec.Info // format, serializer, key that verified it; zero for an empty session
	Empty   bool       // stored empty: Django's must-create placeholder, an empty session
	Expiry  time.Time  // when Django treats it as expired; zero when it never does
	// ExpiryInstant says Django discards the session from the instant
	// Expiry on (the db backend's load() selects expire_date > now);
	// otherwise by whole seconds of remaining age (the file backend).
	ExpiryInstant bool
	UserID        string // _auth_user_id as text ("42"), "" when not logged in
}

// Expired reports whether Django's load() at time now would discard the
// session. The file backend computes the remaining age as whole seconds,
// rounded down (timedelta days*86400 + seconds), and expires at age <= 0;
// the db backend expires at Expiry itself (ExpiryInstant).
func (m Meta) Expired(now time.Time) bool {
	switch {
	case m.Expiry.IsZero():
		return false
	case m.ExpiryInstant:
		return !m.Expiry.After(now)
	}
	return m.Expiry.Sub(now) < time.Second
}

// Session is a loaded session.
type Session struct {
	Meta
	JSON []byte // the session dict as compact JSON, members in stored order
}

// Entry is one item of a Scan. Err is set (wrapping codec.ErrBadSignature,
// codec.ErrCorrupt, ErrNotRegular, ErrTooLarge, ErrInvalidKey, ...) when
// what is stored cannot be decoded or is stored under a key Django would
// not use; Meta then holds only Key, Version, RawSize and ModTime, and the
// expiry when the backend stores it beside the data (a database's
// expire_date).
type Entry struct {
	Meta
	Err error
}

// SaveOptions modify Save.
type SaveOptions struct {
	MustCreate bool    // Django's must_create: ErrExists if the key is taken
	IfMatch    Version // not zero: ErrConflict unless the stored session is still this version
	// KeepExpiry makes the save an edit that does not extend the session's
	// life, where a Django save would (the file backend keeps the replaced
	// file's mtime). A new session gets the life a Django save gives it.
	KeepExpiry bool
	// Encode, when not nil, is how to store the session instead of the
	// backend's configured encoding (rekey's target).
	Encode *codec.EncodeOptions
	// DryRun encodes and checks the session and writes nothing: Saved has
	// the bytes that would be stored, and no Version.
	DryRun bool
	// ReportBefore fills Saved.Before and Saved.BeforeJSON with what the
	// save replaced, read at the moment it was replaced (for the audit log).
	ReportBefore bool
}

// Saved is what a Save (or Rename, or Renew) stored, so that no caller
// reads it back: another writer (Django) may have changed it since.
type Saved struct {
	Session        // as stored now: Meta (with the new Version) and the canonical session JSON
	Raw     []byte // the bytes stored
	Created bool   // nothing was stored under the key before
	// Before and BeforeJSON are the bytes replaced and their session JSON
	// (with SaveOptions.ReportBefore; nil when Created, or when the bytes
	// replaced were over the size bound or did not decode).
	Before     []byte
	BeforeJSON []byte
}

// Removal is what RemoveIf found and did.
type Removal struct {
	Entry          // the version examined last (Err set when it does not decode)
	Removed bool   // it was deleted (or, in a dry run, would be)
	Raw     []byte // the stored bytes when Removed and readable (nil when over the size bound): what was deleted
	JSON    []byte // its session JSON when it decoded
}

// Encoding is how a save with these options encodes: opt.Encode when set,
// else def (the backend's configured encoding).
func (opt SaveOptions) Encoding(def codec.EncodeOptions) codec.EncodeOptions {
	if opt.Encode != nil {
		return *opt.Encode
	}
	return def
}

// Judge applies RemoveIf's rules to r, the version a backend has just
// read: when match refuses it, r keeps none of its bytes; in a dry run, a
// match is reported removed. done reports that r is the answer; otherwise
// the backend deletes that version if it is still unchanged.
func (r *Removal) Judge(match func(Entry) bool, dryRun bool) (done bool) {
	if !match(r.Entry) {
		r.Raw = nil
		return true
	}
	if dryRun {
		r.Removed = true
		return true
	}
	return false
}

// ClearOptions modify ClearExpired.
type ClearOptions struct {
	DryRun bool // remove nothing: ClearResult lists what would be removed
	// KeepLeftovers leaves what interrupted saves left behind (the file
	// backend's stale temp files); by default they go too.
	KeepLeftovers bool
	// Removed, when not nil, is called after each session removed, with
	// the bytes removed (each is then read before its removal, which costs
	// a read per expired session); calls never overlap.
	Removed func(Removal)
}

// ClearResult summarises ClearExpired.
type ClearResult struct {
	Scanned   int
	Removed   []string // keys removed (or, in a dry run, that would be), in no particular order
	Leftovers []string // names of leftovers removed (or that would be)
}

// Description says which backend a Store is and where its sessions live.
type Description struct {
	Backend  string // "file", "db", ...
	Location string // where the sessions are, for messages (never holding a password)
	Dir      string // the local directory holding them; "" when they are not in one
	Signed   bool   // sessions are signed with SECRET_KEY: rekey re-signs them
	// UnguardedWriters: Django's own saves read the session and later write
	// it back with nothing to notice a removal in between (the cache
	// backend's GET then SET), so a request in flight can put back a session
	// just removed. RecheckAfter is how long such a request may take: a
	// removal that must stick (revoke) looks again after it.
	UnguardedWriters bool
	RecheckAfter     time.Duration
}

// Store is a Django session backend, as the mount and the CLI use it.
// Every backend implements every method; implementations are safe for
// concurrent use, and Django may change the sessions at any moment.
type Store interface {
	// Stat returns key's Meta; unchanged sessions come from a cache keyed
	// by Version, without a decode. A session that does not decode is an
	// error wrapping the codec's, with Meta's Key, Version, RawSize and
	// ModTime set.
	Stat(ctx context.Context, key string) (Meta, error)
	// Load reads and decodes key's session. An expired session is
	// returned as it is, with Meta.Expiry saying so.
	Load(ctx context.Context, key string) (*Session, error)
	// ReadRaw returns the bytes stored for key and their Version. Bytes
	// handed out by the contract (here, in Saved and in Removal) are never
	// nil when something is stored: an empty value is an empty slice, which
	// the audit log tells apart from nothing.
	ReadRaw(ctx context.Context, key string) ([]byte, Version, error)
	// Scan calls fn for every stored session, expired and undecodable
	// ones included (Entry.Err), streaming; an error from fn stops it.
	Scan(ctx context.Context, fn func(Entry) error) error
	// ScanUser is Scan restricted to the decodable sessions whose user id
	// is userID.
	ScanUser(ctx context.Context, userID string, fn func(Entry) error) error
	// Expired reports whether Django's load() at now would discard the
	// Scan entry e: what ClearExpired removes.
	Expired(e Entry, now time.Time) bool

	// Save encodes sessionJSON and stores it under key as Django's save
	// does; without MustCreate a missing session is created.
	Save(ctx context.Context, key string, sessionJSON []byte, opt SaveOptions) (Saved, error)
	// RemoveIf deletes key's session if match accepts what is stored,
	// undecodable or over the size bound included (match sees Entry.Err),
	// and only that version: a session rewritten meanwhile is judged
	// again. Nothing stored is Removal{Removed: false} and no error.
	RemoveIf(ctx context.Context, key string, dryRun bool, match func(Entry) bool) (Removal, error)
	// Renew renews key's expiry as a Django save at time at would
	// (`touch`), without changing the session; with a non-zero ifMatch,
	// only while the session is still that version (else ErrConflict).
	Renew(ctx context.Context, key string, at time.Time, ifMatch Version) (Saved, error)
	// Rename re-keys a session, its stored bytes unchanged: to must not
	// exist (ErrExists), and some key holds the session at every moment.
	Rename(ctx context.Context, from, to string) (Saved, error)
	// ClearExpired removes every session Expired says Django would
	// discard, as Django's clear_expired does.
	ClearExpired(ctx context.Context, opt ClearOptions, seen func(Entry)) (ClearResult, error)
	// Stats counts the stored sessions in one scan; seen, when not nil, is
	// called for every entry (progress).
	Stats(ctx context.Context, seen func(Entry)) (Stats, error)
	Describe() Description
	// Close releases the backend's connections and caches; the store is
	// not used after it.
	Close() error
}
