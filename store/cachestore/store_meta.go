package cachestore

import (
	"hash/maphash"
	"sync/atomic"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/internal/metacache"
)

// facts are what decoding one stored value tells, whatever its key's TTL:
// everything Meta needs besides the key, version, size and times.
type facts struct {
	size       int64  // pretty JSON length
	userID     string // _auth_user_id as text
	compressed bool
	// age is the life Django gave the session when it saved it: its
	// _session_expiry seconds, or SESSION_COOKIE_AGE; 0 when the value
	// does not tell (a datetime _session_expiry, or a value that does not
	// decode).
	age time.Duration
	err error // the value does not decode
}

// metaCache remembers the facts of each stored value by session key and
// version, so that listing unchanged sessions decodes nothing. A version
// names one stored value (Redis: its SHA-1; Memcached: its CAS id, unique
// while the server runs), and the TTL is not part of the facts: a renewal
// that keeps the value keeps the entry.
//
// The common entry (no decode error) is a 32-byte slot of
// store/internal/metacache outside the Go heap, found by a 64-bit hash of
// key and version; a value that does not decode is a wide entry. A
// collision of two hashes (seeded per process, so not chosen by whoever
// writes the cache) could only show one listing stale figures: Load,
// RemoveIf and every write decode what they act on.
type metaCache struct {
	c    *metacache.Cache[uint64, valueSlot, wideFacts]
	seed maphash.Seed
	gen  atomic.Uint32 // generation of the latest Scan, for sweeping
}

// valueSlot is what a slot keeps besides the hash and user id: 16 bytes.
type valueSlot struct {
	expiry int64  // unix nanoseconds of the expiry last reported (stableExpiry); 0 none
	size   uint32 // pretty JSON length, below 1<<31; the top bit: compressed
	age    uint32 // seconds; 0 unknown
}

const slotCompressed = 1 << 31

// wideFacts is an entry that does not fit a slot: facts with an error, or
// figures out of a slot's range.
type wideFacts struct {
	version Version
	facts   facts
	expiry  int64
}

// maxCached bounds the entries: past it the cache starts again empty (a
// Scan sweeps what it did not see, but Stat alone never does).
const maxCached = 8 << 20

func newMetaCache() *metaCache {
	return &metaCache{c: metacache.New[uint64, valueSlot, wideFacts](), seed: maphash.MakeSeed()}
}

func (mc *metaCache) hash(key string, v Version) uint64 {
	var h maphash.Hash
	h.SetSeed(mc.seed)
	h.WriteString(key)
	h.Write(v[:])
	return h.Sum64()
}

// get returns the facts of key's version v, marking them seen by scan
// generation gen (0: not a scan).
func (mc *metaCache) get(key string, v Version, gen uint32) (facts, bool) {
	if v.IsZero() {
		return facts{}, false
	}
	s, user, ok := mc.c.Get(mc.hash(key, v), gen, func(*valueSlot) bool { return true })
	if ok {
		return facts{size: int64(s.size &^ slotCompressed), userID: user, compressed: s.size&slotCompressed != 0,
			age: time.Duration(s.age) * time.Second}, true
	}
	w, ok := mc.c.GetWide(key, gen, func(w *wideFacts) bool { return w.version == v })
	return w.facts, ok
}

// put remembers the facts of key's version v (seen by scan gen, or 0).
func (mc *metaCache) put(key string, v Version, f facts, gen uint32) {
	if v.IsZero() {
		return
	}
	if mc.c.Len() >= maxCached {
		mc.c.Release()
	}
	h := mc.hash(key, v)
	// The same value again: its TTL reading stays as reported.
	var expiry int64
	mc.c.Update(h, func(s *valueSlot) { expiry = s.expiry })
	mc.c.UpdateWide(key, func(w *wideFacts) {
		if w.version == v {
			expiry = w.expiry
		}
	})
	e := metacache.Entry[uint64, valueSlot, wideFacts]{Key: key, K: h, Packed: true}
	if f.err == nil && f.size >= 0 && f.size < slotCompressed {
		e.InSlot, e.User = true, f.userID
		e.V = valueSlot{expiry: expiry, size: uint32(f.size)}
		if f.compressed {
			e.V.size |= slotCompressed
		}
		if secs := f.age / time.Second; secs > 0 && secs < 1<<32 {
			e.V.age = uint32(secs)
		}
	} else {
		f.userID = metacache.CloneString(f.userID)
		e.W = wideFacts{version: v, facts: f, expiry: expiry}
	}
	mc.c.Put(e, gen)
}

// stableExpiry is the expiry to report for key's version v, read now as
// fresh: the one reported before while fresh is within a second and a half
// of it. A TTL is read as the time remaining (in whole seconds from
// Memcached), so the instant computed from it wobbles by a second from one
// read to the next; a listing shows a session's times change only when
// its TTL does.
func (mc *metaCache) stableExpiry(key string, v Version, fresh time.Time) time.Time {
	if v.IsZero() || fresh.IsZero() {
		return fresh
	}
	out := fresh
	stable := func(reported *int64) {
		if *reported != 0 {
			if d := fresh.Sub(time.Unix(0, *reported)); d <= 1500*time.Millisecond && d >= -1500*time.Millisecond {
				out = time.Unix(0, *reported)
				return
			}
		}
		*reported = fresh.UnixNano()
	}
	if !mc.c.Update(mc.hash(key, v), func(s *valueSlot) { stable(&s.expiry) }) {
		mc.c.UpdateWide(key, func(w *wideFacts) {
			if w.version == v {
				stable(&w.expiry)
			}
		})
	}
	return out
}

// setExpiry records the expiry a write of key's version v set (exactly
// what was asked of the server, which reads back to the second or
// millisecond): stableExpiry reports it from then on.
func (mc *metaCache) setExpiry(key string, v Version, expiry time.Time) {
	if v.IsZero() || expiry.IsZero() {
		return
	}
	if !mc.c.Update(mc.hash(key, v), func(s *valueSlot) { s.expiry = expiry.UnixNano() }) {
		mc.c.UpdateWide(key, func(w *wideFacts) {
			if w.version == v {
				w.expiry = expiry.UnixNano()
			}
		})
	}
}

// startScan begins a scan generation.
func (mc *metaCache) startScan() uint32 {
	for {
		if gen := mc.gen.Add(1); gen != 0 {
			return gen
		}
	}
}

// sweep drops what a complete scan of generation gen did not see, unless
// another scan has started since (it may not have seen everything yet).
func (mc *metaCache) sweep(gen uint32) {
	if mc.gen.Load() == gen {
		mc.c.Sweep(gen)
	}
}

// info is the codec.Info of a cache value: a pickle, unsigned.
func (f facts) info() codec.Info {
	return codec.Info{Serializer: codec.SerializerPickle, Compressed: f.compressed}
}

// meta is the Meta of item it with these facts; times come from the TTL
// (Store.times).
func (f facts) meta(it Item, expiry, modTime time.Time) store.Meta {
	m := store.Meta{Key: it.Key, Version: store.Version(it.Version), RawSize: it.Size, Expiry: expiry, ModTime: modTime}
	if f.err == nil {
		m.Size, m.Info, m.UserID = f.size, f.info(), f.userID
	}
	return m
}

// release returns the cache's off-heap memory; the cache is not used after.
func (mc *metaCache) release() { mc.c.Release() }
