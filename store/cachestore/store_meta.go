package cachestore

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/internal/offheap"
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
// A mount may list a million sessions, so the common entry (a user id
// that is a small number, no decode error) is a 32-byte pointer-free slot
// holding a 64-bit hash of key and version. Slots live in fixed-size
// chunks that never move (growing copies nothing) and are found through an
// open-addressing index of uint32s: about 40 bytes a session, in memory
// mapped outside the Go heap (offheap.Zeroed), so the collector neither
// scans them nor paces collection by them. Other user ids and errors sit in small side
// maps. A collision of two hashes (seeded per process, so not chosen by
// whoever writes the cache) could only show one listing stale figures:
// Load, RemoveIf and every write decode what they act on.
type metaCache struct {
	mu     sync.Mutex
	seed   maphash.Seed
	index  []uint32 // linear probing: slot number + 1; 0 is empty
	imem   []byte   // the mapping of index
	chunks [][]metaSlot
	cmem   [][]byte          // the mapping of each chunk
	n      int               // slots in use: slot i is chunks[i>>chunkBits][i&chunkMask]
	users  map[uint64]string // user ids that are not small numbers
	errs   map[uint64]error
	gen    uint8 // generation of the latest Scan, for sweeping
}

type metaSlot struct {
	hash   uint64 // of key and version
	expiry int64  // unix nanoseconds of the expiry last reported (stableExpiry); 0 none
	size   uint32 // pretty JSON length
	user   uint32 // the user id itself with slotUserNumber, else 0
	age    uint32 // seconds; 0 unknown
	seen   uint8  // generation of the last Scan that saw it
	bits   uint8
}

const (
	slotUserNumber = 1 << iota // user holds the user id
	slotUserWide               // the user id is in users
	slotCompressed
	slotErr // the error is in errs

	chunkBits    = 12
	chunkMask    = 1<<chunkBits - 1
	minIndexSize = 64

	// maxCached bounds the entries: past it the cache starts again empty
	// (a Scan sweeps what it did not see, but Stat alone never does).
	maxCached = 8 << 20
)

func newMetaCache() *metaCache {
	return &metaCache{seed: maphash.MakeSeed(), users: map[uint64]string{}, errs: map[uint64]error{}}
}

func (mc *metaCache) hash(key string, v Version) uint64 {
	var h maphash.Hash
	h.SetSeed(mc.seed)
	h.WriteString(key)
	h.Write(v[:])
	return h.Sum64()
}

func (mc *metaCache) slot(i int) *metaSlot { return &mc.chunks[i>>chunkBits][i&chunkMask] }

// find returns the slot of hash h, or nil.
func (mc *metaCache) find(h uint64) *metaSlot {
	if len(mc.index) == 0 {
		return nil
	}
	mask := uint64(len(mc.index) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		n := mc.index[i]
		if n == 0 {
			return nil
		}
		if s := mc.slot(int(n - 1)); s.hash == h {
			return s
		}
	}
}

// insert adds a slot for a hash find did not find.
func (mc *metaCache) insert(s metaSlot) {
	if len(mc.chunks) == mc.n>>chunkBits {
		chunk, mem := offheap.Zeroed[metaSlot](1 << chunkBits)
		mc.chunks, mc.cmem = append(mc.chunks, chunk), append(mc.cmem, mem)
	}
	*mc.slot(mc.n) = s
	mc.n++
	if mc.n*4 > len(mc.index)*3 {
		mc.reindex()
		return
	}
	mc.place(s.hash, mc.n)
}

func (mc *metaCache) place(h uint64, number int) {
	mask := uint64(len(mc.index) - 1)
	i := h & mask
	for mc.index[i] != 0 {
		i = (i + 1) & mask
	}
	mc.index[i] = uint32(number)
}

// reindex rebuilds the index for the slots in use, at most 3/4 full.
func (mc *metaCache) reindex() {
	size := minIndexSize
	for size*3 < mc.n*4+4 {
		size *= 2
	}
	old := mc.imem
	defer offheap.Release(old)
	mc.index, mc.imem = offheap.Zeroed[uint32](size)
	for i := 0; i < mc.n; i++ {
		mc.place(mc.slot(i).hash, i+1)
	}
}

// reset empties the cache and returns its memory; mc.mu is held.
func (mc *metaCache) reset() {
	offheap.Release(mc.imem)
	for _, mem := range mc.cmem {
		offheap.Release(mem)
	}
	mc.index, mc.imem, mc.chunks, mc.cmem, mc.n = nil, nil, nil, nil, 0
	mc.users, mc.errs = map[uint64]string{}, map[uint64]error{}
}

// release is reset for a store that is closing.
func (mc *metaCache) release() {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.reset()
}

// get returns the facts of key's version v, marking them seen by scan
// generation gen (0: not a scan).
func (mc *metaCache) get(key string, v Version, gen uint8) (facts, bool) {
	if v.IsZero() {
		return facts{}, false
	}
	h := mc.hash(key, v)
	mc.mu.Lock()
	defer mc.mu.Unlock()
	s := mc.find(h)
	if s == nil {
		return facts{}, false
	}
	if gen != 0 {
		s.seen = gen
	}
	f := facts{size: int64(s.size), age: time.Duration(s.age) * time.Second, compressed: s.bits&slotCompressed != 0}
	switch {
	case s.bits&slotUserNumber != 0:
		f.userID = uitoa(s.user)
	case s.bits&slotUserWide != 0:
		f.userID = mc.users[h]
	}
	if s.bits&slotErr != 0 {
		f.err = mc.errs[h]
	}
	return f, true
}

// put remembers the facts of key's version v (seen by scan gen, or 0).
func (mc *metaCache) put(key string, v Version, f facts, gen uint8) {
	if v.IsZero() {
		return
	}
	h := mc.hash(key, v)
	s := metaSlot{hash: h, size: uint32(min(f.size, 1<<32-1)), seen: gen}
	if secs := f.age / time.Second; secs > 0 && secs < 1<<32 {
		s.age = uint32(secs)
	}
	if f.compressed {
		s.bits |= slotCompressed
	}
	mc.mu.Lock()
	defer mc.mu.Unlock()
	delete(mc.users, h)
	delete(mc.errs, h)
	if n, ok := smallDecimal(f.userID); ok {
		s.user, s.bits = n, s.bits|slotUserNumber
	} else if f.userID != "" {
		mc.users[h] = f.userID
		s.bits |= slotUserWide
	}
	if f.err != nil {
		mc.errs[h] = f.err
		s.bits |= slotErr
	}
	if old := mc.find(h); old != nil {
		s.expiry = old.expiry // the same value: its TTL reading stays as reported
		*old = s
		return
	}
	if mc.n >= maxCached {
		mc.reset()
	}
	mc.insert(s)
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
	h := mc.hash(key, v)
	mc.mu.Lock()
	defer mc.mu.Unlock()
	s := mc.find(h)
	if s == nil {
		return fresh
	}
	if s.expiry != 0 {
		if d := fresh.Sub(time.Unix(0, s.expiry)); d <= 1500*time.Millisecond && d >= -1500*time.Millisecond {
			return time.Unix(0, s.expiry)
		}
	}
	s.expiry = fresh.UnixNano()
	return fresh
}

// setExpiry records the expiry a write of key's version v set (exactly
// what was asked of the server, which reads back to the second or
// millisecond): stableExpiry reports it from then on.
func (mc *metaCache) setExpiry(key string, v Version, expiry time.Time) {
	if v.IsZero() || expiry.IsZero() {
		return
	}
	h := mc.hash(key, v)
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if s := mc.find(h); s != nil {
		s.expiry = expiry.UnixNano()
	}
}

// startScan begins a scan generation.
func (mc *metaCache) startScan() uint8 {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.gen++
	if mc.gen == 0 {
		mc.gen = 1
	}
	return mc.gen
}

// sweep drops what a complete scan of generation gen did not see, unless
// another scan has started since (it may not have seen everything yet):
// the slots kept move down, and the index is rebuilt.
func (mc *metaCache) sweep(gen uint8) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.gen != gen {
		return
	}
	kept := 0
	for i := 0; i < mc.n; i++ {
		s := *mc.slot(i)
		if s.seen != gen {
			delete(mc.users, s.hash)
			delete(mc.errs, s.hash)
			continue
		}
		*mc.slot(kept) = s
		kept++
	}
	if kept == mc.n {
		return
	}
	mc.n = kept
	used := (kept + chunkMask) >> chunkBits
	for _, mem := range mc.cmem[used:] {
		offheap.Release(mem)
	}
	mc.chunks, mc.cmem = mc.chunks[:used], mc.cmem[:used]
	if last := kept & chunkMask; last != 0 {
		clear(mc.chunks[len(mc.chunks)-1][last:])
	}
	mc.reindex()
}

// smallDecimal parses a user id that is the canonical decimal text of a
// uint32 ("42", not "042" or "+42"), which can be stored as the number.
func smallDecimal(s string) (uint32, bool) {
	if len(s) == 0 || len(s) > 10 || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return uint32(n), n < 1<<32
}

func uitoa(n uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
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
