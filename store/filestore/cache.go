package filestore

import (
	"time"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/internal/metacache"
)

// metaCache remembers each session's Meta (or decode error) keyed by the
// backing file's identity, so a listing of unchanged files neither opens nor
// decodes them. The common entry (a key of at most 32 characters, sizes
// under 4 GiB, no decode error) is a 72-byte slot of store/internal/metacache
// outside the Go heap: the key packed, the file's identity and times as
// integers. Everything else (long keys, errors, huge files) is a wide entry
// holding the full Meta.
type metaCache struct {
	*metacache.Cache[metacache.PackedKey, fileSlot, wideEntry]
}

// fileSlot is what a slot keeps of a Meta besides key and user id: 40 bytes.
type fileSlot struct {
	ino     uint64
	mtime   int64 // unix nanoseconds
	expiry  int64 // see packTime
	rawSize uint32
	size    uint32 // pretty JSON length
	info    metacache.Info
}

// wideEntry is an entry that does not fit a slot.
type wideEntry struct {
	meta store.Meta // Key unset: the map key holds it
	err  error
}

func newMetaCache() *metaCache {
	return &metaCache{Cache: metacache.New[metacache.PackedKey, fileSlot, wideEntry]()}
}

// packTime stores a time as unix nanoseconds with the zero time as 0. Times
// outside int64 nanoseconds (years before 1678 or after 2261) are clamped;
// the Unix epoch (store.AlwaysExpired) is stored as 1, distinct from "never".
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
		return store.AlwaysExpired
	}
	return time.Unix(0, n)
}

// packSlot fills a slot from m, or reports that m needs a wide entry.
func packSlot(m store.Meta) (fileSlot, bool) {
	id := unpackVersion(m.Version)
	const maxU32 = 1<<32 - 1
	info, ok := metacache.PackInfo(m.Info, m.Empty)
	if !ok || id.size < 0 || id.size > maxU32 || id.size != m.RawSize || m.Size < 0 || m.Size > maxU32 {
		return fileSlot{}, false
	}
	return fileSlot{
		ino: id.ino, mtime: id.modTime.UnixNano(), expiry: packTime(m.Expiry),
		rawSize: uint32(id.size), size: uint32(m.Size), info: info,
	}, true
}

// matches reports whether the slot describes file version id.
func (s *fileSlot) matches(id fileID) bool {
	return s.ino == id.ino && int64(s.rawSize) == id.size && s.mtime == id.modTime.UnixNano()
}

func (s *fileSlot) meta(key, user string) store.Meta {
	m := fileID{ino: s.ino, size: int64(s.rawSize), modTime: time.Unix(0, s.mtime)}.meta(key)
	m.Size = int64(s.size)
	m.Expiry = unpackTime(s.expiry)
	m.Info, m.Empty = s.info.Unpack()
	m.UserID = user
	return m
}

// get returns the cached Meta (or decode error) of key if it describes
// file version id.
func (mc *metaCache) get(key string, id fileID) (store.Meta, error, bool) {
	return mc.lookup(key, id, 0)
}

// getSeen is get that also records that a Scan of generation gen found key.
func (mc *metaCache) getSeen(key string, id fileID, gen uint32) (store.Meta, error, bool) {
	return mc.lookup(key, id, gen)
}

// lookup is get, marking the entry seen by generation gen unless gen is 0.
func (mc *metaCache) lookup(key string, id fileID, gen uint32) (store.Meta, error, bool) {
	if k, ok := metacache.PackKey(key); ok {
		if s, user, ok := mc.Get(k, gen, func(s *fileSlot) bool { return s.matches(id) }); ok {
			return s.meta(key, user), nil, true
		}
	}
	version := id.version()
	w, ok := mc.GetWide(key, gen, func(w *wideEntry) bool { return w.meta.Version == version })
	if !ok {
		return store.Meta{}, nil, false
	}
	if w.err != nil {
		return id.meta(key), w.err, true
	}
	w.meta.Key = key
	return w.meta, nil, true
}

// has reports whether key has an entry, of any file version.
func (mc *metaCache) has(key string) bool {
	k, packed := metacache.PackKey(key)
	return mc.Has(key, k, packed)
}

func (mc *metaCache) put(key string, m store.Meta, err error, gen uint32) {
	e := metacache.Entry[metacache.PackedKey, fileSlot, wideEntry]{Key: key}
	e.K, e.Packed = metacache.PackKey(key)
	if e.Packed && err == nil {
		e.V, e.InSlot = packSlot(m)
		e.User = m.UserID
	}
	if !e.InSlot {
		m.Key = ""
		m.UserID = metacache.CloneString(m.UserID)
		e.W = wideEntry{meta: m, err: err}
	}
	mc.Put(e, gen)
}

// invalidate drops key's entry: its session changed or is gone.
func (mc *metaCache) invalidate(key string) { metacache.DeleteKey(mc.Cache, key) }
