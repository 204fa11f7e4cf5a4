package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Load reads and decodes key's session. An empty placeholder file is an
// empty session (Meta.Empty); a file that does not decode is an error
// wrapping the codec's (never an empty session, unlike Django); an expired
// session is returned as it is, with Meta.Expiry saying so.
func (s *FileStore) Load(ctx context.Context, key string) (*Session, error) {
	if err := s.checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, id, err := s.readRaw(key)
	if err != nil {
		return nil, err
	}
	sessionJSON, meta, err := s.decodeFile(key, id, data)
	s.remember(key, meta, err)
	if err != nil {
		return nil, err
	}
	return &Session{Meta: meta, JSON: sessionJSON}, nil
}

// remember caches what decoding a file version found, a decode error
// included: it stays true until the file changes.
func (s *FileStore) remember(key string, meta Meta, err error) {
	s.cache.put(key, meta, err, s.gen.Load())
}

// Stat returns key's Meta. When the backing file's identity (inode, size,
// mtime) is unchanged since the last decode, nothing is opened or decoded.
func (s *FileStore) Stat(ctx context.Context, key string) (Meta, error) {
	if err := s.checkKey(key); err != nil {
		return Meta{}, err
	}
	if err := ctx.Err(); err != nil {
		return Meta{}, err
	}
	id, err := s.lstatKey(key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			s.cache.invalidate(key)
		}
		return Meta{Key: key, ID: id}, err
	}
	if meta, err, ok := s.cache.get(key, id); ok {
		return meta, err
	}
	sess, err := s.Load(ctx, key)
	if err != nil {
		return Meta{Key: key, ID: id}, err
	}
	return sess.Meta, nil
}

// Exists reports whether key has a backing directory entry, as Django's
// exists() (os.path.exists) does; a planted symlink or directory counts.
func (s *FileStore) Exists(ctx context.Context, key string) (bool, error) {
	if err := s.checkKey(key); err != nil {
		return false, err
	}
	if _, err := os.Lstat(s.path(key)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("session %s: stat: %w", key, err)
	}
	return true, nil
}

// Expiry returns when Django would find key expired (zero: never).
func (s *FileStore) Expiry(ctx context.Context, key string) (time.Time, error) {
	meta, err := s.Stat(ctx, key)
	if err != nil {
		return time.Time{}, err
	}
	return meta.Expiry, nil
}
