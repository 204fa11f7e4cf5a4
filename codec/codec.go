// Package codec converts Django session_data strings to and from JSON.
//
// It knows bytes only: no files, no paths, no FUSE. The session dict is
// exchanged as JSON object text whose members keep the order Django stored
// them in (Django dicts keep insertion order; a Go map would not), so an
// edited session differs from the original only where the user changed it.
//
// Formats:
//
//	C  FormatSigned  Django 3.1+   signing.dumps, TimestampSigner, HMAC-SHA256 (SHA-1 read)
//	B  FormatLegacy  Django 1.3–3.0 base64(hex HMAC-SHA1 ":" serialized)
//	A  FormatMD5     Django 1.0–1.2 base64(pickle || hex MD5(pickle || secret))
package codec

import (
	"fmt"
	"strings"
	"time"
)

// Format is one of Django's session_data encodings.
type Format int

const (
	FormatSigned Format = iota + 1 // C: signing.dumps (Django 3.1+)
	FormatLegacy                   // B: legacy salted HMAC-SHA1 (Django 1.3–3.0)
	FormatMD5                      // A: pickle + MD5 (Django 1.0–1.2)
)

// FormatCache is the Format of a cache value (SESSION_ENGINE cache, or
// cached_db's copy): no session_data string, the session dict pickled by the
// cache client, unsigned. It is the zero Format, and never parsed.
const FormatCache Format = 0

var formatNames = map[Format]string{FormatSigned: "signed", FormatLegacy: "legacy", FormatMD5: "md5"}

func (f Format) String() string {
	if f == FormatCache {
		return "cache"
	}
	if s, ok := formatNames[f]; ok {
		return s
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat accepts the names used on the command line: signed, legacy, md5.
func ParseFormat(s string) (Format, error) {
	for f, name := range formatNames {
		if strings.EqualFold(s, name) {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown format %q (want signed, legacy or md5)", s)
}

// Serializer is Django's SESSION_SERIALIZER.
type Serializer int

const (
	SerializerJSON Serializer = iota + 1
	SerializerPickle
)

func (s Serializer) String() string {
	switch s {
	case SerializerJSON:
		return "json"
	case SerializerPickle:
		return "pickle"
	}
	return fmt.Sprintf("Serializer(%d)", int(s))
}

// ParseSerializer accepts json, pickle, and Django's dotted class paths.
func ParseSerializer(s string) (Serializer, error) {
	switch s {
	case "json", "JSON",
		"django.contrib.sessions.serializers.JSONSerializer",
		"django.core.signing.JSONSerializer":
		return SerializerJSON, nil
	case "pickle", "PICKLE",
		"django.contrib.sessions.serializers.PickleSerializer",
		"django.core.serializers.base.PickleSerializer":
		return SerializerPickle, nil
	}
	return 0, fmt.Errorf("unknown serializer %q (want json, pickle or a Django serializer class path)", s)
}

// Algorithm is the hash of a format-C signature.
type Algorithm int

const (
	SHA256 Algorithm = iota + 1
	SHA1
)

func (a Algorithm) String() string {
	switch a {
	case SHA256:
		return "sha256"
	case SHA1:
		return "sha1"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// ParseAlgorithm accepts sha256 and sha1.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToLower(s) {
	case "sha256":
		return SHA256, nil
	case "sha1":
		return SHA1, nil
	}
	return 0, fmt.Errorf("unknown algorithm %q (want sha256 or sha1)", s)
}

// Defaults: the salts of every built-in Django session store class.
const (
	DefaultKeySalt        = "django.contrib.sessions.SessionStore" // format C signing salt
	DefaultMaxDecodedSize = 16 << 20
)

// Config holds the settings a codec signs and verifies with.
type Config struct {
	SecretKey      []byte   // SECRET_KEY; required
	FallbackKeys   [][]byte // SECRET_KEY_FALLBACKS, tried in order after SecretKey (format C)
	KeySalt        string   // format-C salt; default DefaultKeySalt
	LegacyKeySalt  string   // format-B key_salt; default derived from KeySalt ("django.contrib.sessionsSessionStore")
	Algorithm      Algorithm
	MaxDecodedSize int64 // bound on base64-decoded and decompressed payloads; default DefaultMaxDecodedSize
}

// Info says how a session_data string was encoded and which key verified it.
type Info struct {
	Format     Format
	Wrapped    bool // base64 was line-wrapped as Django 1.0–1.4 wrote it
	Serializer Serializer
	Algorithm  Algorithm // signature hash (format C); SHA1 for B; zero for A
	KeyIndex   int       // 0: SECRET_KEY; i > 0: SECRET_KEY_FALLBACKS[i-1]
	Compressed bool      // format C payload was zlib-compressed
	Timestamp  time.Time // format C signing time; zero otherwise
}

// KeyName is "current" or "fallback N"; "unsigned" for a cache value.
func (i Info) KeyName() string {
	if i.Format == FormatCache {
		return "unsigned"
	}
	if i.KeyIndex == 0 {
		return "current"
	}
	return fmt.Sprintf("fallback %d", i.KeyIndex)
}

// EncodeOptions choose what Encode writes. Zero values mean: format C,
// JSON serializer, the Config's algorithm, the current time.
type EncodeOptions struct {
	Format     Format
	Serializer Serializer
	Algorithm  Algorithm
	Now        time.Time
}
