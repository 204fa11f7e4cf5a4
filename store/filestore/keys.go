package filestore

import (
	"fmt"
	"strings"

	"github.com/sessionfs/sessionfs/store"
)

// Django's file backend accepts only keys made of VALID_KEY_CHARS
// ([a-z0-9]) and, since 1.9, treats keys shorter than 8 as no key at all.
const minKeyLen = 8

// Go's os.CreateTemp replaces "*" with at most 10 decimal digits; the temp
// file of a save must fit a file name too, or the key could be created but
// never saved.
const (
	maxNameLen    = 255
	tempInfix     = "_out_"
	maxTempSuffix = 10
)

// maxKeyLen is the longest key whose file and temp file names both fit in a
// directory entry (255 bytes on every Linux file system).
func maxKeyLen(prefix string) int {
	return maxNameLen - len(prefix) - len(tempInfix) - maxTempSuffix
}

// validKey reports whether key is a session key this store will build a
// file name from. It is the only gate between user input and a path.
func validKey(key, prefix string) bool {
	if len(key) < minKeyLen || len(key) > maxKeyLen(prefix) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// checkKey returns ErrInvalidKey (with the key quoted) for a key Django
// would refuse.
func (s *FileStore) checkKey(key string) error {
	if !validKey(key, s.cfg.CookieName) {
		return fmt.Errorf("%w: %q (want %d to %d characters from [a-z0-9])",
			store.ErrInvalidKey, key, minKeyLen, maxKeyLen(s.cfg.CookieName))
	}
	return nil
}

// checkPrefix refuses a SESSION_COOKIE_NAME that could not be a file-name
// prefix: it must not name another directory or leave no room for a key.
func checkPrefix(prefix string) error {
	switch {
	case prefix == "":
		return fmt.Errorf("empty cookie name")
	case strings.ContainsAny(prefix, "/\x00"):
		return fmt.Errorf("cookie name %q contains '/' or NUL: it must be a file-name prefix", prefix)
	case maxKeyLen(prefix) < 32:
		return fmt.Errorf("cookie name %q too long: no room for a 32-character session key in a file name", prefix)
	}
	return nil
}

// keyOfName returns the session key of a directory entry name, and false for
// names that are not session files of this store: other prefixes, Django's
// "_out_" temp files (they contain '_', so they fail the key rule, as in
// Django's clear_expired) and invalid keys.
func (s *FileStore) keyOfName(name string) (string, bool) {
	key, ok := strings.CutPrefix(name, s.cfg.CookieName)
	if !ok || !validKey(key, s.cfg.CookieName) {
		return "", false
	}
	return key, true
}
