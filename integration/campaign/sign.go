package campaign

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// SignSigned builds a Django 3.1+ (format C) session_data string around
// payload as a key holder could, so hostile content gets past the
// signature check and reaches the deserializers (spec section 3.3).
func SignSigned(secret string, payload []byte, compress bool) []byte {
	text := base64.RawURLEncoding.EncodeToString(payload)
	if compress {
		var z bytes.Buffer
		w := zlib.NewWriter(&z)
		w.Write(payload)
		w.Close()
		text = "." + base64.RawURLEncoding.EncodeToString(z.Bytes())
	}
	value := text + ":1r31eq"
	key := sha256.Sum256([]byte("django.contrib.sessions.SessionStoresigner" + secret))
	mac := hmac.New(sha256.New, key[:])
	mac.Write([]byte(value))
	return []byte(value + ":" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)))
}

// SignLegacy builds a Django 1.5–3.0 (format B) session_data string around
// serialized (spec section 3.2).
func SignLegacy(secret string, serialized []byte) []byte {
	key := sha1.Sum([]byte("django.contrib.sessionsSessionStore" + secret))
	mac := hmac.New(sha1.New, key[:])
	mac.Write(serialized)
	blob := append([]byte(hex.EncodeToString(mac.Sum(nil))+":"), serialized...)
	return []byte(base64.StdEncoding.EncodeToString(blob))
}
