package codec

import (
	"bytes"
	"errors"
)

// HasTagged reports whether the session holds a tagged value that the JSON
// serializer cannot write ($tuple, $set, $bytes, $datetime, $object, a $dict
// with non-string keys, ...): such a session must be written with the pickle
// serializer, or Encode with JSON fails with ErrUnsupportedValue. Escaped
// dicts with string keys and $float do not count: JSON writes them exactly.
func HasTagged(sessionJSON []byte) bool {
	if !bytes.Contains(sessionJSON, []byte(`"$`)) {
		return false
	}
	v, err := parseJSON(sessionJSON, false)
	if err != nil {
		return false
	}
	_, err = untagForJSON(&v, "")
	return errors.Is(err, ErrUnsupportedValue)
}
