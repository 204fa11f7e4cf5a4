// Package filestore is Django's file session backend (SESSION_FILE_PATH)
// behind the store.Store contract: one file per session, named by
// SESSION_COOKIE_NAME and the key, written by Django's save path (temp
// file, fsync, rename). Everything about files stays here: temp files and
// their cleanup, the must-create placeholder, fsync, owners and modes, the
// metadata cache keyed by file identity, and its memory outside the heap.
package filestore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// Config holds the settings of a FileStore, named after Django's.
type Config struct {
	Dir         string        // SESSION_FILE_PATH; required
	CookieName  string        // SESSION_COOKIE_NAME: the file-name prefix; default store.DefaultCookieName
	CookieAge   time.Duration // SESSION_COOKIE_AGE; default store.DefaultCookieAge
	Codec       *codec.Codec
	Encode      codec.EncodeOptions // what Save writes (format, serializer)
	NoFsync     bool                // skip fsync of the temp file and the directory (Django never fsyncs)
	MaxFileSize int64               // bound on a session file's size; default store.DefaultMaxSessionSize
	Now         func() time.Time    // clock for expiry; default time.Now
}

// sessionCodec is what the store needs of *codec.Codec; tests wrap the real
// codec to count decodes.
type sessionCodec interface {
	Decode(data []byte) ([]byte, codec.Info, error)
	Encode(sessionJSON []byte, opt codec.EncodeOptions) ([]byte, error)
}

// FileStore is store.Store for Django's file session backend. It is safe
// for concurrent use; Django processes may change the directory at any time.
type FileStore struct {
	cfg   Config
	codec sessionCodec
	cache *metaCache
	gen   atomic.Uint32 // Scan generation, for sweeping the cache
	hooks testHooks
}

// testHooks let tests watch and break the save path; nil outside tests.
type testHooks struct {
	beforeRename func(tmpName string) error // called with the temp file written and synced
	synced       func(what string)          // "file" or "dir", after each fsync
}

var _ store.Store = (*FileStore)(nil)

// New checks cfg, fills in Django's defaults and returns the store. The
// directory must exist (Django raises ImproperlyConfigured otherwise).
func New(cfg Config) (*FileStore, error) {
	if cfg.Dir == "" {
		return nil, errors.New("file store: no session directory (SESSION_FILE_PATH)")
	}
	if cfg.Codec == nil {
		return nil, errors.New("file store: no codec")
	}
	if cfg.CookieName == "" {
		cfg.CookieName = store.DefaultCookieName
	}
	if err := checkPrefix(cfg.CookieName); err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	if cfg.CookieAge == 0 {
		cfg.CookieAge = store.DefaultCookieAge
	}
	if cfg.CookieAge < 0 {
		return nil, fmt.Errorf("file store: negative cookie age %v", cfg.CookieAge)
	}
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = store.DefaultMaxSessionSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("file store: session directory %s: %w", cfg.Dir, err)
	}
	cfg.Dir = dir
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("file store: session directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("file store: session directory %s is not a directory", dir)
	}
	return &FileStore{cfg: cfg, codec: cfg.Codec, cache: newMetaCache()}, nil
}

// Config returns the effective settings (defaults filled in).
func (s *FileStore) Config() Config { return s.cfg }

// fileName is the backing file name of a validated key.
func (s *FileStore) fileName(key string) string { return s.cfg.CookieName + key }

// path is the backing file of a validated key. Callers check the key first.
// Dir is absolute and clean (New), and a valid key has no separator, so
// plain concatenation is exact and spares Join's cleaning on every stat.
func (s *FileStore) path(key string) string { return s.cfg.Dir + "/" + s.cfg.CookieName + key }

// Describe says the sessions are files in the session directory, signed
// with SECRET_KEY.
// Close does nothing: a directory holds no connection to close.
func (s *FileStore) Close() error {
	return nil
}

func (s *FileStore) Describe() store.Description {
	return store.Description{Backend: "file", Location: s.cfg.Dir, Dir: s.cfg.Dir, Signed: true}
}
