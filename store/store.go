// Package store is Django's file session backend seen from Go: the backing
// directory (SESSION_FILE_PATH) with Django's names, expiry rules and save
// path. It knows files; the codec knows bytes; fusefs and the CLI only call
// the Store interface.
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
	ErrInvalidKey = errors.New("invalid session key")               // not Django's [a-z0-9]{8,}: no file operation happened
	ErrNotFound   = errors.New("session not found")                 // no backing file
	ErrExists     = errors.New("session already exists")            // Django's CreateError (must-create on an existing key)
	ErrNotRegular = errors.New("not a regular file")                // symlink, fifo, device or directory planted in the backing dir
	ErrTooLarge   = errors.New("session file too large")            // over Config.MaxFileSize
	ErrConflict   = errors.New("session changed since it was read") // SaveOptions.IfMatch failed (lost update)
)

// FileID identifies one version of a backing file. It changes whenever Django
// (or anyone) rewrites the file: the temp-file-and-rename path gives a new inode.
type FileID struct {
	Ino     uint64
	Size    int64
	ModTime time.Time
}

// Meta is what is known about a session without handing out its data.
type Meta struct {
	Key    string
	ID     FileID     // backing file identity (and its raw size and mtime)
	Size   int64      // length of the pretty JSON rendering (codec.Pretty): what ls -l shows
	Info   codec.Info // format, serializer, key that verified it; zero for an empty placeholder
	Empty  bool       // zero-byte placeholder: an empty session, as in Django
	Expiry time.Time  // when Django treats it as expired; zero when it never does (an integer _session_expiry)
	UserID string     // _auth_user_id as text ("42"), "" when not logged in
}

// Expired reports whether Django's load() at time now would discard the
// session: Django computes the remaining age as whole seconds, rounded down
// (timedelta days*86400 + seconds), and expires at age <= 0.
func (m Meta) Expired(now time.Time) bool {
	return !m.Expiry.IsZero() && m.Expiry.Sub(now) < time.Second
}

// Session is a loaded session.
type Session struct {
	Meta
	JSON []byte // the session dict as compact JSON, members in stored order
}

// Entry is one item of a Scan. Err is set (wrapping codec.ErrBadSignature,
// codec.ErrCorrupt, ErrNotRegular, ErrTooLarge, ...) when the backing file
// cannot be decoded; Meta then holds only Key and ID.
type Entry struct {
	Meta
	Err error
}

// SaveOptions modify Save.
type SaveOptions struct {
	MustCreate bool      // Django's must_create: O_EXCL placeholder, ErrExists if the key is taken
	ModTime    time.Time // if set, the new file gets this mtime (an edit must not extend an mtime-based expiry)
	IfMatch    *FileID   // if set, fail with ErrConflict unless the backing file still has this identity
}

// ClearResult summarises ClearExpired.
type ClearResult struct {
	Scanned int
	Removed []string // keys removed (or, in a dry run, that would be)
}

// Store is a Django session backend. FileStore implements it for the file
// backend; other Django backends (db, cache) can implement it later without
// touching fusefs or the CLI.
type Store interface {
	Load(ctx context.Context, key string) (*Session, error)
	Stat(ctx context.Context, key string) (Meta, error) // cached by FileID: no decode when unchanged
	Save(ctx context.Context, key string, sessionJSON []byte, opt SaveOptions) (Meta, error)
	Delete(ctx context.Context, key string) error
	Exists(ctx context.Context, key string) (bool, error)
	Touch(ctx context.Context, key string, mtime time.Time) error // sets the backing file's mtime (renews mtime-based expiry)
	Rename(ctx context.Context, from, to string) error            // re-key: to must not exist; never a window without either
	Scan(ctx context.Context, fn func(Entry) error) error         // streaming, every session file incl. expired and invalid
	Expiry(ctx context.Context, key string) (time.Time, error)
	ClearExpired(ctx context.Context, dryRun bool) (ClearResult, error)
}

// Defaults, as in Django's global settings.
const (
	DefaultCookieName  = "sessionid"
	DefaultCookieAge   = 1209600 * time.Second // two weeks
	DefaultMaxFileSize = 16 << 20
)

// Config holds the settings of a FileStore, named after Django's.
type Config struct {
	Dir         string        // SESSION_FILE_PATH; required
	CookieName  string        // SESSION_COOKIE_NAME: the file-name prefix; default DefaultCookieName
	CookieAge   time.Duration // SESSION_COOKIE_AGE; default DefaultCookieAge
	Codec       *codec.Codec
	Encode      codec.EncodeOptions // what Save writes (format, serializer)
	NoFsync     bool                // skip fsync of the temp file and the directory (Django never fsyncs)
	MaxFileSize int64               // bound on a backing file's size; default DefaultMaxFileSize
	Now         func() time.Time    // clock for expiry; default time.Now
}
