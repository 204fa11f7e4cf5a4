package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sessionfs/sessionfs/codec"
)

const authUserIDKey = "_auth_user_id"

// EmptySessionJSON is the session of an empty stored value (Django's
// must-create placeholder).
var EmptySessionJSON = []byte("{}")

// FromSession sets what m derives from the decoded session JSON whatever
// the backend: the rendering's size, the codec's Info and the user id.
// Expiry is the backend's to set (ExpiryOf, or a stored expiry date).
func (m *Meta) FromSession(sessionJSON []byte, info codec.Info) error {
	size, err := codec.PrettySize(sessionJSON)
	if err != nil {
		return fmt.Errorf("session %s: rendering: %w", m.Key, err)
	}
	m.Size = size
	m.Info = info
	m.UserID = UserIDOf(sessionJSON)
	return nil
}

// UserIDOf returns _auth_user_id as text: Django 1.8+ stores a string ("42"
// or a UUID), older releases an int (42 -> "42"). "" when absent or of
// another type.
func UserIDOf(sessionJSON []byte) string {
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
