package dbstore

import "github.com/sessionfs/sessionfs/codec"

// WithoutReturning makes s clear expired rows the way it does on MySQL,
// which has no DELETE ... RETURNING, so that the path runs on MariaDB too.
func WithoutReturning(s *Store) { s.returning = false }

// Returning reports whether s deletes with DELETE ... RETURNING.
func Returning(s *Store) bool { return s.returning }

// SetSessionCodec makes s decode and encode with c (a counting codec).
func SetSessionCodec(s *Sessions, c interface {
	Decode(data []byte) ([]byte, codec.Info, error)
	Encode(sessionJSON []byte, opt codec.EncodeOptions) ([]byte, error)
}) {
	s.codec = c
}

// CacheLen is the number of sessions s's metadata cache holds.
func CacheLen(s *Sessions) int { return s.cache.len() }

// ParseDisplayKey is parseDisplayKey, for its test.
var ParseDisplayKey = parseDisplayKey
