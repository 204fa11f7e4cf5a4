package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sessionfs/sessionfs/codec"
)

const authUserIDKey = "_auth_user_id"

// emptySessionJSON is the session of a zero-byte placeholder file.
var emptySessionJSON = []byte("{}")

// decodeFile turns a backing file's bytes into the session JSON and its
// Meta. A zero-byte file is Django's must-create placeholder: an empty
// session that never expires by itself (Django skips the expiry check).
// Decode errors are returned wrapped: a file that does not decode is never
// presented as an empty session.
func (s *FileStore) decodeFile(key string, id FileID, data []byte) ([]byte, Meta, error) {
	meta := Meta{Key: key, ID: id}
	if len(data) == 0 {
		meta.Empty = true
		pretty, err := codec.Pretty(emptySessionJSON)
		if err != nil {
			return nil, meta, fmt.Errorf("session %s: rendering: %w", key, err)
		}
		meta.Size = int64(len(pretty))
		return emptySessionJSON, meta, nil
	}
	sessionJSON, info, err := s.codec.Decode(data)
	if err != nil {
		return nil, meta, fmt.Errorf("session %s: %w", key, err)
	}
	if err := s.fillMeta(&meta, sessionJSON, info); err != nil {
		return nil, meta, err
	}
	return sessionJSON, meta, nil
}

// fillMeta sets what Meta derives from decoded session JSON.
func (s *FileStore) fillMeta(meta *Meta, sessionJSON []byte, info codec.Info) error {
	pretty, err := codec.Pretty(sessionJSON)
	if err != nil {
		return fmt.Errorf("session %s: rendering: %w", meta.Key, err)
	}
	meta.Size = int64(len(pretty))
	meta.Info = info
	meta.Expiry = s.expiryOf(sessionJSON, meta.ID.ModTime)
	meta.UserID = userIDOf(sessionJSON)
	return nil
}

// userIDOf returns _auth_user_id as text: Django 1.8+ stores a string ("42"
// or a UUID), older releases an int (42 -> "42"). "" when absent or of
// another type.
func userIDOf(sessionJSON []byte) string {
	raw, ok := codec.Member(sessionJSON, authUserIDKey)
	if !ok {
		return ""
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch {
	case raw[0] == '"':
		var id string
		if json.Unmarshal(raw, &id) == nil {
			return id
		}
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
	}
	return ""
}
