package dbstore

import (
	"encoding/binary"
	"time"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/internal/metacache"
)

// metaCache remembers what decoding each session found, keyed by its key
// and checked against the row's Version, so that listing unchanged rows
// reads them but decodes none. What a row itself holds (key, size,
// expire_date) is not kept: the listing has it. The common entry (a Django
// key of 32 characters, a small rendering, no decode error) is a 64-byte
// slot of store/internal/metacache outside the Go heap; everything else
// (longer keys, decode errors) is a wide entry holding the decoded Meta.
type metaCache struct {
	*metacache.Cache[metacache.PackedKey, rowSlot, wideEntry]
}

// rowSlot is what a slot keeps besides key and user id: 28 bytes.
type rowSlot struct {
	version uint64 // the first 8 bytes of the Version decoded
	age     int64  // Expiry - ModTime in nanoseconds
	size    uint32 // pretty JSON length
	info    metacache.Info
}

// wideEntry is an entry that does not fit a slot.
type wideEntry struct {
	version store.Version
	meta    store.Meta // what decoding derived; Key and the row's own fields are not used
	err     error
}

func newMetaCache() *metaCache {
	return &metaCache{Cache: metacache.New[metacache.PackedKey, rowSlot, wideEntry]()}
}

func versionWord(v store.Version) uint64 { return binary.LittleEndian.Uint64(v[:8]) }

// ageOf is what a slot keeps of ModTime: its distance to the expiry.
func ageOf(m store.Meta) int64 {
	if m.Expiry.IsZero() || m.ModTime.IsZero() {
		return 0
	}
	return int64(m.Expiry.Sub(m.ModTime))
}

// entry is how m, or its decode error err, is kept.
func entry(m store.Meta, err error) metacache.Entry[metacache.PackedKey, rowSlot, wideEntry] {
	e := metacache.Entry[metacache.PackedKey, rowSlot, wideEntry]{Key: m.Key}
	e.K, e.Packed = metacache.PackKey(m.Key)
	if e.Packed && err == nil && m.Size >= 0 && m.Size <= 1<<32-1 {
		var info metacache.Info
		if info, e.InSlot = metacache.PackInfo(m.Info, m.Empty); e.InSlot {
			e.V = rowSlot{version: versionWord(m.Version), age: ageOf(m), size: uint32(m.Size), info: info}
			e.User = m.UserID
			return e
		}
	}
	e.W = wideEntry{version: m.Version, err: err}
	if err == nil {
		e.W.meta = store.Meta{Size: m.Size, Info: m.Info, UserID: metacache.CloneString(m.UserID), Empty: m.Empty,
			Expiry: m.Expiry, ModTime: m.ModTime}
	}
	return e
}

// lookup completes m, a row's Meta before decoding (Key, Version, RawSize,
// Expiry set), from the entry of m.Key if it was made for m.Version, and
// returns the decode error that entry records. gen, unless 0, marks the
// entry seen by that Scan.
func (mc *metaCache) lookup(m *store.Meta, gen uint32) (error, bool) {
	if k, ok := metacache.PackKey(m.Key); ok {
		word := versionWord(m.Version)
		if s, user, ok := mc.Get(k, gen, func(s *rowSlot) bool { return s.version == word }); ok {
			m.Size = int64(s.size)
			if !m.Expiry.IsZero() {
				m.ModTime = m.Expiry.Add(-time.Duration(s.age))
			}
			m.Info, m.Empty = s.info.Unpack()
			m.UserID = user
			return nil, true
		}
	}
	w, ok := mc.GetWide(m.Key, gen, func(w *wideEntry) bool { return w.version == m.Version })
	if !ok {
		return nil, false
	}
	if w.err != nil {
		return w.err, true
	}
	m.Size, m.Info, m.UserID, m.Empty = w.meta.Size, w.meta.Info, w.meta.UserID, w.meta.Empty
	if !m.Expiry.IsZero() {
		m.ModTime = m.Expiry.Add(-time.Duration(ageOf(w.meta)))
	}
	return nil, true
}

// put records what decoding version m.Version of m.Key found: m, or err.
func (mc *metaCache) put(m store.Meta, err error, gen uint32) { mc.Put(entry(m, err), gen) }

// decoded is what decoding one row found.
type decoded struct {
	meta store.Meta
	err  error
}

// putAll is put for a batch (a page's decodes), under one lock.
func (mc *metaCache) putAll(batch []decoded, gen uint32) {
	entries := make([]metacache.Entry[metacache.PackedKey, rowSlot, wideEntry], len(batch))
	for i, d := range batch {
		entries[i] = entry(d.meta, d.err)
	}
	mc.PutAll(entries, gen)
}

// invalidate drops key's entry: its session changed or is gone.
func (mc *metaCache) invalidate(key string) { metacache.DeleteKey(mc.Cache, key) }
