package filestore

import (
	"fmt"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// decodeFile turns a backing file's bytes into the session JSON and its
// Meta. A zero-byte file is Django's must-create placeholder: an empty
// session that never expires by itself (Django skips the expiry check).
// Decode errors are returned wrapped, with the file's identity in the
// Meta: a file that does not decode is never presented as an empty session.
func (s *FileStore) decodeFile(key string, id fileID, data []byte) ([]byte, store.Meta, error) {
	meta := id.meta(key)
	if len(data) == 0 {
		meta.Empty = true
		if err := meta.FromSession(store.EmptySessionJSON, codec.Info{}); err != nil {
			return nil, meta, err
		}
		return store.EmptySessionJSON, meta, nil
	}
	sessionJSON, info, err := s.codec.Decode(data)
	if err != nil {
		return nil, meta, fmt.Errorf("session %s: %w", key, err)
	}
	if err := s.fillMeta(&meta, sessionJSON, info); err != nil {
		return nil, id.meta(key), err
	}
	return sessionJSON, meta, nil
}

// fillMeta sets what Meta derives from decoded session JSON: the expiry
// counts from the file's mtime, as Django's file backend does.
func (s *FileStore) fillMeta(meta *store.Meta, sessionJSON []byte, info codec.Info) error {
	if err := meta.FromSession(sessionJSON, info); err != nil {
		return err
	}
	meta.Expiry = store.ExpiryOf(sessionJSON, meta.ModTime, s.cfg.CookieAge)
	return nil
}
