package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// sessionCodec is what the store needs of *codec.Codec; tests wrap the real
// codec to count decodes.
type sessionCodec interface {
	Decode(data []byte) ([]byte, codec.Info, error)
	Encode(sessionJSON []byte, opt codec.EncodeOptions) ([]byte, error)
}

// FileStore is Store for Django's file session backend. It is safe for
// concurrent use; Django processes may change the directory at any time.
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

var _ Store = (*FileStore)(nil)

// New checks cfg, fills in Django's defaults and returns the store. The
// directory must exist (Django raises ImproperlyConfigured otherwise).
func New(cfg Config) (*FileStore, error) {
	if cfg.Dir == "" {
		return nil, errors.New("store: no session directory (SESSION_FILE_PATH)")
	}
	if cfg.Codec == nil {
		return nil, errors.New("store: no codec")
	}
	if cfg.CookieName == "" {
		cfg.CookieName = DefaultCookieName
	}
	if err := checkPrefix(cfg.CookieName); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if cfg.CookieAge == 0 {
		cfg.CookieAge = DefaultCookieAge
	}
	if cfg.CookieAge < 0 {
		return nil, fmt.Errorf("store: negative cookie age %v", cfg.CookieAge)
	}
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = DefaultMaxFileSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("store: session directory %s: %w", cfg.Dir, err)
	}
	cfg.Dir = dir
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("store: session directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("store: session directory %s is not a directory", dir)
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
