package codec

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// Codec verifies, decodes and encodes session_data. It is safe for
// concurrent use: all state is read-only after New, and the HMAC states are
// pooled per derived key.
type Codec struct {
	cfg     Config
	secrets []*secretKeys // [0] = SecretKey, then FallbackKeys in order
}

// secretKeys holds everything derived from one secret. Deriving a key costs a
// hash over salt||secret; doing it once here keeps Decode on the hot path down
// to one HMAC.
type secretKeys struct {
	secret    []byte
	signer256 *macPool // format C, SHA-256: key SHA256(salt+"signer"+secret)
	signer1   *macPool // format C, SHA-1 (Django 3.1/3.2 accept it on read)
	legacy    *macPool // format B: key SHA1(legacySalt+secret)
}

// macPool hands out HMAC states already keyed; Reset restores the keyed state
// without rehashing the key.
type macPool struct{ pool sync.Pool }

func newMacPool(newHash func() hash.Hash, key []byte) *macPool {
	p := &macPool{}
	p.pool.New = func() any { return hmac.New(newHash, key) }
	return p
}

// sum appends HMAC(msg) to dst.
func (p *macPool) sum(dst, msg []byte) []byte {
	h := p.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(msg)
	dst = h.Sum(dst)
	p.pool.Put(h)
	return dst
}

// New checks cfg, fills its defaults and derives the HMAC keys of every secret.
func New(cfg Config) (*Codec, error) {
	if len(cfg.SecretKey) == 0 {
		return nil, errors.New("codec: SecretKey is empty")
	}
	for i, k := range cfg.FallbackKeys {
		if len(k) == 0 {
			return nil, fmt.Errorf("codec: fallback key %d is empty", i+1)
		}
	}
	if cfg.KeySalt == "" {
		cfg.KeySalt = DefaultKeySalt
	}
	if cfg.LegacyKeySalt == "" {
		cfg.LegacyKeySalt = legacySalt(cfg.KeySalt)
	}
	switch cfg.Algorithm {
	case 0:
		cfg.Algorithm = SHA256
	case SHA256, SHA1:
	default:
		return nil, fmt.Errorf("codec: unknown algorithm %v", cfg.Algorithm)
	}
	if cfg.MaxDecodedSize <= 0 {
		cfg.MaxDecodedSize = DefaultMaxDecodedSize
	}
	c := &Codec{cfg: cfg}
	for _, s := range append([][]byte{cfg.SecretKey}, cfg.FallbackKeys...) {
		c.secrets = append(c.secrets, deriveKeys(cfg, s))
	}
	return c, nil
}

func deriveKeys(cfg Config, secret []byte) *secretKeys {
	signerSalt := cfg.KeySalt + "signer"
	k256 := sha256.Sum256(concat([]byte(signerSalt), secret))
	k1 := sha1.Sum(concat([]byte(signerSalt), secret))
	kl := sha1.Sum(concat([]byte(cfg.LegacyKeySalt), secret))
	return &secretKeys{
		secret:    append([]byte(nil), secret...),
		signer256: newMacPool(sha256.New, k256[:]),
		signer1:   newMacPool(sha1.New, k1[:]),
		legacy:    newMacPool(sha1.New, kl[:]),
	}
}

// legacySalt turns the format-C salt "django.contrib.sessions.X" into the
// format-B key_salt "django.contrib.sessionsX": Django builds the first from
// the class's __qualname__ with a dot and the second from __name__ without.
func legacySalt(keySalt string) string {
	const prefix = "django.contrib.sessions."
	if rest, ok := strings.CutPrefix(keySalt, prefix); ok {
		if i := strings.LastIndexByte(rest, '.'); i >= 0 {
			rest = rest[i+1:] // nested class: B uses __name__ only
		}
		return "django.contrib.sessions" + rest
	}
	if i := strings.LastIndexByte(keySalt, '.'); i >= 0 {
		return keySalt[:i] + keySalt[i+1:]
	}
	return keySalt
}

func concat(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// signerFor returns the format-C HMAC pool of a secret for an algorithm.
func (k *secretKeys) signerFor(a Algorithm) *macPool {
	if a == SHA1 {
		return k.signer1
	}
	return k.signer256
}
