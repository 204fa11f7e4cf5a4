package store

import (
	"strings"
	"sync"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// metaCache remembers each session's Meta (or decode error) keyed by the
// backing file's identity, so a listing of unchanged files neither opens nor
// decodes them. A mount may list a million sessions, so entries are packed
// (no JSON, times as integers, no pointers but the user id) and stored
// inline in the map: about 150 bytes per session with its key.
type metaCache struct {
	mu      sync.RWMutex
	entries map[string]cachedMeta
	errs    map[string]error // decode errors of the entries with hasErr
}

// cachedMeta is one session's metadata, packed.
type cachedMeta struct {
	ino        uint64
	rawSize    int64
	mtime      int64 // unix nanoseconds
	size       int64 // pretty JSON length
	expiry     int64 // see packTime
	timestamp  int64 // format C signing time, unix seconds; 0: none
	userID     string
	keyIndex   uint16
	format     uint8
	serializer uint8
	algorithm  uint8
	flags      uint8
	seen       uint32 // generation of the last Scan that saw it, for sweeping
}

const (
	flagWrapped = 1 << iota
	flagCompressed
	flagEmpty
	flagErr
)

func newMetaCache() *metaCache {
	return &metaCache{entries: make(map[string]cachedMeta), errs: make(map[string]error)}
}

// packTime stores a time as unix nanoseconds with the zero time as 0. Times
// outside int64 nanoseconds (years before 1678 or after 2261) are clamped;
// the Unix epoch (AlwaysExpired) is stored as 1, distinct from "never".
func packTime(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Year() < 1678:
		return 1
	case t.Year() > 2261:
		return 1<<63 - 1
	}
	if n := t.UnixNano(); n != 0 {
		return n
	}
	return 1
}

func unpackTime(n int64) time.Time {
	switch n {
	case 0:
		return time.Time{}
	case 1:
		return AlwaysExpired
	}
	return time.Unix(0, n)
}

func packMeta(m Meta, hasErr bool) cachedMeta {
	c := cachedMeta{
		ino: m.ID.Ino, rawSize: m.ID.Size, mtime: m.ID.ModTime.UnixNano(),
		size: m.Size, expiry: packTime(m.Expiry), userID: m.UserID,
		keyIndex: uint16(min(m.Info.KeyIndex, 1<<16-1)),
		format:   uint8(m.Info.Format), serializer: uint8(m.Info.Serializer), algorithm: uint8(m.Info.Algorithm),
	}
	if !m.Info.Timestamp.IsZero() {
		c.timestamp = m.Info.Timestamp.Unix()
	}
	c.flags = flagIf(m.Info.Wrapped, flagWrapped) | flagIf(m.Info.Compressed, flagCompressed) |
		flagIf(m.Empty, flagEmpty) | flagIf(hasErr, flagErr)
	return c
}

func flagIf(on bool, flag uint8) uint8 {
	if on {
		return flag
	}
	return 0
}

// matches reports whether the cached entry describes file version id.
func (c *cachedMeta) matches(id FileID) bool {
	return c.ino == id.Ino && c.rawSize == id.Size && c.mtime == id.ModTime.UnixNano()
}

func (c *cachedMeta) meta(key string) Meta {
	m := Meta{
		Key:    key,
		ID:     FileID{Ino: c.ino, Size: c.rawSize, ModTime: time.Unix(0, c.mtime)},
		Size:   c.size,
		Expiry: unpackTime(c.expiry),
		UserID: c.userID,
		Empty:  c.flags&flagEmpty != 0,
		Info: codec.Info{
			Format: codec.Format(c.format), Serializer: codec.Serializer(c.serializer),
			Algorithm: codec.Algorithm(c.algorithm), KeyIndex: int(c.keyIndex),
			Wrapped: c.flags&flagWrapped != 0, Compressed: c.flags&flagCompressed != 0,
		},
	}
	if c.timestamp != 0 {
		m.Info.Timestamp = time.Unix(c.timestamp, 0)
	}
	return m
}

// get returns the cached Meta (or decode error) of key if it describes
// file version id.
func (mc *metaCache) get(key string, id FileID) (Meta, error, bool) {
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	return mc.lookup(key, id)
}

// getSeen is get that also records that a Scan of generation gen found key.
func (mc *metaCache) getSeen(key string, id FileID, gen uint32) (Meta, error, bool) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if c, ok := mc.entries[key]; ok && c.matches(id) {
		c.seen = gen
		mc.entries[key] = c
	}
	return mc.lookup(key, id)
}

// lookup is get with mc.mu held.
func (mc *metaCache) lookup(key string, id FileID) (Meta, error, bool) {
	c, ok := mc.entries[key]
	if !ok || !c.matches(id) {
		return Meta{}, nil, false
	}
	if c.flags&flagErr != 0 {
		return Meta{Key: key, ID: id}, mc.errs[key], true
	}
	return c.meta(key), nil, true
}

// has reports whether key has an entry, of any file version.
func (mc *metaCache) has(key string) bool {
	mc.mu.RLock()
	_, ok := mc.entries[key]
	mc.mu.RUnlock()
	return ok
}

func (mc *metaCache) put(key string, m Meta, err error, gen uint32) {
	c := packMeta(m, err != nil)
	c.seen = gen
	// A key sliced from a directory entry name would keep the whole name
	// alive; the user id from a decoded session would keep its JSON.
	c.userID = strings.Clone(c.userID)
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if _, ok := mc.entries[key]; !ok {
		key = strings.Clone(key)
	}
	mc.entries[key] = c
	if err != nil {
		mc.errs[key] = err
	} else {
		delete(mc.errs, key)
	}
}

func (mc *metaCache) invalidate(key string) {
	mc.mu.Lock()
	delete(mc.entries, key)
	delete(mc.errs, key)
	mc.mu.Unlock()
}

// sweep drops entries a complete Scan of generation gen did not see: their
// files are gone, and the cache must not grow with every session ever seen.
func (mc *metaCache) sweep(gen uint32) {
	mc.mu.Lock()
	for key, c := range mc.entries {
		if c.seen != gen {
			delete(mc.entries, key)
			delete(mc.errs, key)
		}
	}
	mc.mu.Unlock()
}

// len is the number of cached entries.
func (mc *metaCache) len() int {
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	return len(mc.entries)
}
