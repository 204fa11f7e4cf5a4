package filestore

import (
	"context"
	"errors"

	"github.com/sessionfs/sessionfs/store"
)

// Load reads and decodes key's session. An empty placeholder file is an
// empty session (Meta.Empty); a file that does not decode is an error
// wrapping the codec's (never an empty session, unlike Django); an expired
// session is returned as it is, with Meta.Expiry saying so.
func (s *FileStore) Load(ctx context.Context, key string) (*store.Session, error) {
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
	return &store.Session{Meta: meta, JSON: sessionJSON}, nil
}

// remember caches what decoding a file version found, a decode error
// included: it stays true until the file changes.
func (s *FileStore) remember(key string, meta store.Meta, err error) {
	s.cache.put(key, meta, err, s.gen.Load())
}

// Stat returns key's Meta. When the backing file's identity (inode, size,
// mtime) is unchanged since the last decode, nothing is opened or decoded.
// A planted symlink, directory or fifo is ErrNotRegular with its identity.
func (s *FileStore) Stat(ctx context.Context, key string) (store.Meta, error) {
	if err := s.checkKey(key); err != nil {
		return store.Meta{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.Meta{}, err
	}
	id, err := s.lstatKey(key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.cache.invalidate(key)
			return store.Meta{Key: key}, err
		}
		return id.meta(key), err
	}
	if meta, err, ok := s.cache.get(key, id); ok {
		return meta, err
	}
	sess, err := s.Load(ctx, key)
	if err != nil {
		return id.meta(key), err
	}
	return sess.Meta, nil
}

// ReadRaw returns the bytes of key's backing file and the Version of that
// file, read safely (never through a symlink, never more than
// Config.MaxFileSize): for audit hashes and .invalid files. ErrNotFound
// when there is no file.
func (s *FileStore) ReadRaw(ctx context.Context, key string) ([]byte, store.Version, error) {
	if err := s.checkKey(key); err != nil {
		return nil, store.Version{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, store.Version{}, err
	}
	data, id, err := s.readRaw(key)
	if err != nil {
		return nil, store.Version{}, err
	}
	return data, id.version(), nil
}
