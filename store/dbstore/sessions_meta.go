package dbstore

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// versionOf packs a row's state as the contract's opaque Version: a digest
// of expire_date (as compared by the guards) and session_data. Equal
// stored values are the same Version; the guards compare the values
// themselves, never the digest.
func versionOf(r Row) store.Version {
	var v store.Version
	if !r.Version.valid {
		return v
	}
	bp := digestBufs.Get().(*[]byte)
	b := append(append(append((*bp)[:0], r.Version.expire.key...), 0), r.Version.data...)
	sum := sha256.Sum256(b)
	if cap(b) <= 64<<10 {
		*bp = b
		digestBufs.Put(bp)
	}
	copy(v[:], sum[:])
	return v
}

// digestBufs hold what versionOf hashes, so that a listing does not
// allocate a copy of every row for it.
var digestBufs = sync.Pool{New: func() any { return new([]byte) }}

// rowMeta is the Meta of a row before any decode: key, version, size and
// expiry, and as ModTime the save a default expiry implies.
func (s *Sessions) rowMeta(r Row) store.Meta {
	m := store.Meta{Key: r.Key, Version: versionOf(r), RawSize: int64(len(r.Data)), Expiry: r.ExpireDate, ExpiryInstant: true}
	if !r.ExpireDate.IsZero() {
		m.ModTime = r.ExpireDate.Add(-s.cfg.CookieAge)
	}
	return m
}

// fillMeta sets what Meta derives from the decoded session: the rendering's
// size, the user, the codec's Info, and when Django last saved it.
func (s *Sessions) fillMeta(m *store.Meta, sessionJSON []byte, info codec.Info) error {
	if err := m.FromSession(sessionJSON, info); err != nil {
		return err
	}
	m.ModTime = s.savedAt(m.Expiry, sessionJSON, info)
	return nil
}

// savedAt is when the save that wrote expire_date happened: expire_date
// minus the age it gave the session. An absolute _session_expiry says
// nothing of that: the signing time of format C does, else the default
// age is assumed.
func (s *Sessions) savedAt(expire time.Time, sessionJSON []byte, info codec.Info) time.Time {
	if expire.IsZero() {
		return time.Time{}
	}
	if age, ok := store.ExpiryAge(sessionJSON, s.cfg.CookieAge); ok {
		return expire.Add(-age)
	}
	if !info.Timestamp.IsZero() {
		return info.Timestamp
	}
	return expire.Add(-s.cfg.CookieAge)
}

// decodeRow turns a row into its session JSON and Meta. A row under a key
// that is not Django's shape, over the size bound, or whose session_data
// does not decode is an error (with the row's Meta), never an empty
// session.
func (s *Sessions) decodeRow(r Row) ([]byte, store.Meta, error) {
	return s.decodeRowMeta(r, s.rowMeta(r))
}

// decodeRowMeta is decodeRow given the row's Meta (rowMeta).
func (s *Sessions) decodeRowMeta(r Row, meta store.Meta) ([]byte, store.Meta, error) {
	if err := s.db.CheckKey(r.Key); err != nil {
		meta.Key = DisplayKey(r.Key)
		return nil, meta, fmt.Errorf("row %s: %w", meta.Key, err)
	}
	if err := s.checkStoredSize(r); err != nil {
		return nil, meta, err
	}
	sessionJSON, info, err := s.codec.Decode([]byte(r.Data))
	if err != nil {
		return nil, meta, fmt.Errorf("session %s: %w", r.Key, err)
	}
	full := meta
	if err := s.fillMeta(&full, sessionJSON, info); err != nil {
		return nil, meta, err
	}
	return sessionJSON, full, nil
}

// checkStoredSize refuses to decode a row over the size bound.
func (s *Sessions) checkStoredSize(r Row) error {
	if int64(len(r.Data)) > s.cfg.MaxSessionSize {
		return fmt.Errorf("session %s: %w: session_data is %d bytes, over the %d-byte limit",
			r.Key, store.ErrTooLarge, len(r.Data), s.cfg.MaxSessionSize)
	}
	return nil
}

// rawOf is what the contract hands out as a row's stored bytes: never nil
// for a row (an empty session_data is an empty slice), nil when over the
// size bound.
func (s *Sessions) rawOf(r Row) []byte {
	if int64(len(r.Data)) > s.cfg.MaxSessionSize {
		return nil
	}
	return []byte(r.Data)
}

// DisplayKey is how a stored key that is not Django's shape is shown: the
// letters, digits, '-' and '_' as they are, every other byte as %XX (so a
// key holding '/', a control character or a dot can name a file and print
// safely), and an empty key as "%".
func DisplayKey(key string) string {
	if key == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
