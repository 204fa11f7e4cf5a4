package filestore

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/internal/offheap"
)

// metaCache remembers each session's Meta (or decode error) keyed by the
// backing file's identity, so a listing of unchanged files neither opens nor
// decodes them.
//
// A mount may list a million sessions within a 150 MiB budget, so the common
// entry (a key of at most 32 characters, sizes under 4 GiB, no decode error)
// is a 72-byte pointer-free slot: the key packed 6 bits a character, times as
// integers, the user id inline when it is a small number. Slots live in
// fixed-size chunks that never move (growing copies nothing) and are found
// through an open-addressing index of uint32s, so the garbage collector has
// nothing to scan and the index's slack costs 4 bytes a slot, not a whole
// entry as a Go map's would. Chunks and index live outside the Go heap
// (store/internal/offheap). Everything else (long keys, errors, huge
// files) goes to the small wide map, holding full Metas.
type metaCache struct {
	mu    sync.RWMutex
	seed  maphash.Seed
	index []uint32 // open addressing, linear probing: slot number + 1; 0 is empty
	imem  []byte   // the index's mapping (store/internal/offheap)
	count int      // slots in use
	chunk [][]slot // slot i is chunk[i>>chunkBits][i&chunkMask]
	free  []uint32 // slot numbers released by deletions, reused first
	users interner
	wide  map[string]*wideEntry
}

const (
	chunkBits      = 12
	chunkSize      = 1 << chunkBits
	chunkMask      = chunkSize - 1
	minIndexSize   = 64
	maxPackedKey   = 32 // characters that fit a packedKey
	maxIndexLoad   = 3  // index grows past maxIndexLoad/4 full
	noTimestamp    = 0
	userNone       = 0
	bitsFormat     = 0 // 2 bits each for format, serializer, algorithm
	bitsSerializer = 2
	bitsAlgorithm  = 4
)

const (
	flagWrapped = 1 << (iota + 6)
	flagCompressed
	flagEmpty
	flagUserNumber // user holds the decimal user id itself, not an interned index
)

// packedKey is a key of [a-z0-9] characters, 6 bits each ('0' is 1, 'a' is
// 11), zero bits after its end.
type packedKey [3]uint64

// slot is one cached session in 72 bytes and no pointers.
type slot struct {
	key       packedKey
	ino       uint64
	mtime     int64 // unix nanoseconds
	expiry    int64 // see packTime
	rawSize   uint32
	size      uint32 // pretty JSON length
	timestamp uint32 // format C signing time, unix seconds; 0: none
	user      uint32 // flagUserNumber ? the id : interned index + 1 (0: none)
	seen      uint32 // generation of the last Scan that saw it, for sweeping; atomic under the read lock
	keyIndex  uint16
	bits      uint16 // format, serializer, algorithm, flags
}

// wideEntry is an entry that does not fit a slot.
type wideEntry struct {
	meta store.Meta
	err  error
	seen atomic.Uint32
}

func newMetaCache() *metaCache {
	return &metaCache{seed: maphash.MakeSeed(), wide: make(map[string]*wideEntry)}
}

// packKey packs key, or reports that it does not fit.
func packKey(key string) (packedKey, bool) {
	var k packedKey
	if len(key) > maxPackedKey {
		return k, false
	}
	for i := 0; i < len(key); i++ {
		var v uint64
		switch c := key[i]; {
		case c >= '0' && c <= '9':
			v = uint64(c-'0') + 1
		case c >= 'a' && c <= 'z':
			v = uint64(c-'a') + 11
		default:
			return k, false
		}
		k[i/11] |= v << (6 * (i % 11)) // 11 characters a word
	}
	return k, true
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

// packSlot fills a slot from m, or reports that m needs a wide entry. The
// user id is interned by the caller (it needs the lock).
func packSlot(k packedKey, m store.Meta) (slot, bool) {
	id := unpackVersion(m.Version)
	const maxU32 = 1<<32 - 1
	ts := int64(noTimestamp)
	if !m.Info.Timestamp.IsZero() {
		ts = m.Info.Timestamp.Unix()
	}
	if id.size < 0 || id.size > maxU32 || id.size != m.RawSize || m.Size < 0 || m.Size > maxU32 ||
		ts < 0 || ts > maxU32 || ts == noTimestamp && !m.Info.Timestamp.IsZero() ||
		m.Info.KeyIndex < 0 || m.Info.KeyIndex > 1<<16-1 ||
		m.Info.Format < 0 || m.Info.Format > 3 || m.Info.Serializer < 0 || m.Info.Serializer > 3 ||
		m.Info.Algorithm < 0 || m.Info.Algorithm > 3 {
		return slot{}, false
	}
	s := slot{
		key: k, ino: id.ino, mtime: id.modTime.UnixNano(), expiry: packTime(m.Expiry),
		rawSize: uint32(id.size), size: uint32(m.Size), timestamp: uint32(ts),
		keyIndex: uint16(m.Info.KeyIndex),
		bits: uint16(m.Info.Format)<<bitsFormat | uint16(m.Info.Serializer)<<bitsSerializer |
			uint16(m.Info.Algorithm)<<bitsAlgorithm |
			flagIf(m.Info.Wrapped, flagWrapped) | flagIf(m.Info.Compressed, flagCompressed) | flagIf(m.Empty, flagEmpty),
	}
	if n, ok := smallDecimal(m.UserID); ok {
		s.user, s.bits = n, s.bits|flagUserNumber
	}
	return s, true
}

// smallDecimal parses a user id that is the canonical decimal text of a
// uint32 ("42", not "042" or "+42"): it can be stored as the number.
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

func flagIf(on bool, flag uint16) uint16 {
	if on {
		return flag
	}
	return 0
}

// matches reports whether the slot describes file version id.
func (s *slot) matches(id fileID) bool {
	return s.ino == id.ino && int64(s.rawSize) == id.size && s.mtime == id.modTime.UnixNano()
}

func (mc *metaCache) meta(s *slot, key string) store.Meta {
	m := fileID{ino: s.ino, size: int64(s.rawSize), modTime: time.Unix(0, s.mtime)}.meta(key)
	m.Size = int64(s.size)
	m.Expiry = unpackTime(s.expiry)
	m.Empty = s.bits&flagEmpty != 0
	m.Info = codec.Info{
		Format:     codec.Format(s.bits >> bitsFormat & 3),
		Serializer: codec.Serializer(s.bits >> bitsSerializer & 3),
		Algorithm:  codec.Algorithm(s.bits >> bitsAlgorithm & 3),
		KeyIndex:   int(s.keyIndex),
		Wrapped:    s.bits&flagWrapped != 0, Compressed: s.bits&flagCompressed != 0,
	}
	switch {
	case s.bits&flagUserNumber != 0:
		m.UserID = formatUint32(s.user)
	case s.user != userNone:
		m.UserID = mc.users.name(s.user)
	}
	if s.timestamp != noTimestamp {
		m.Info.Timestamp = time.Unix(int64(s.timestamp), 0).UTC() // as the codec returns it
	}
	return m
}

// formatUint32 returns small ids without allocating.
func formatUint32(n uint32) string {
	if n < uint32(len(smallNumbers)) {
		return smallNumbers[n]
	}
	var buf [10]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(buf[i:])
}

var smallNumbers = func() (t [100]string) {
	for i := range t {
		if i < 10 {
			t[i] = string(rune('0' + i))
		} else {
			t[i] = string([]byte{byte('0' + i/10), byte('0' + i%10)})
		}
	}
	return t
}()

func (mc *metaCache) slotAt(i uint32) *slot { return &mc.chunk[i>>chunkBits][i&chunkMask] }

// find returns the index position holding k, or the empty position where it
// would go, and whether it was found.
func (mc *metaCache) find(k packedKey) (int, bool) {
	if len(mc.index) == 0 {
		return -1, false
	}
	mask := len(mc.index) - 1
	for pos := int(maphash.Comparable(mc.seed, k)) & mask; ; pos = (pos + 1) & mask {
		v := mc.index[pos]
		if v == 0 {
			return pos, false
		}
		if mc.slotAt(v-1).key == k {
			return pos, true
		}
	}
}

func (mc *metaCache) home(k packedKey) int {
	return int(maphash.Comparable(mc.seed, k)) & (len(mc.index) - 1)
}

// grow doubles the index (it only holds slot numbers: slots do not move).
func (mc *metaCache) grow() {
	old, oldMem := mc.index, mc.imem
	defer offheap.Release(oldMem)
	mc.index, mc.imem = offheap.Zeroed[uint32](max(minIndexSize, 2*len(old)))
	mask := len(mc.index) - 1
	for _, v := range old {
		if v == 0 {
			continue
		}
		pos := mc.home(mc.slotAt(v - 1).key)
		for mc.index[pos] != 0 {
			pos = (pos + 1) & mask
		}
		mc.index[pos] = v
	}
}

// removeAt empties index position pos and shifts back the entries after it
// that were displaced, so lookups never need tombstones.
func (mc *metaCache) removeAt(pos int) {
	v := mc.index[pos]
	mc.users.release(mc.slotAt(v - 1))
	*mc.slotAt(v - 1) = slot{}
	mc.free = append(mc.free, v-1)
	mc.count--
	mask := len(mc.index) - 1
	hole := pos
	for j := (pos + 1) & mask; mc.index[j] != 0; j = (j + 1) & mask {
		h := mc.home(mc.slotAt(mc.index[j] - 1).key)
		// Move j into the hole unless its home lies cyclically in (hole, j].
		if (j > hole && (h <= hole || h > j)) || (j < hole && h <= hole && h > j) {
			mc.index[hole] = mc.index[j]
			hole = j
		}
	}
	mc.index[hole] = 0
}

// newSlot returns a free slot number.
func (mc *metaCache) newSlot() uint32 {
	if n := len(mc.free); n > 0 {
		i := mc.free[n-1]
		mc.free = mc.free[:n-1]
		return i
	}
	i := uint32(len(mc.chunk) * chunkSize)
	chunk, _ := offheap.Zeroed[slot](chunkSize) // never unmapped: freed slots are reused
	mc.chunk = append(mc.chunk, chunk)
	for j := uint32(chunkSize - 1); j > 0; j-- {
		mc.free = append(mc.free, i+j)
	}
	return i
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
// Only the read lock is taken, so parallel scan workers do not serialize:
// seen is the one field written under it, atomically.
func (mc *metaCache) lookup(key string, id fileID, gen uint32) (store.Meta, error, bool) {
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	if k, ok := packKey(key); ok {
		if pos, found := mc.find(k); found {
			s := mc.slotAt(mc.index[pos] - 1)
			if s.matches(id) {
				if gen != 0 {
					atomic.StoreUint32(&s.seen, gen)
				}
				return mc.meta(s, key), nil, true
			}
			return store.Meta{}, nil, false
		}
	}
	w, ok := mc.wide[key]
	if !ok || w.meta.Version != id.version() {
		return store.Meta{}, nil, false
	}
	if gen != 0 {
		w.seen.Store(gen)
	}
	if w.err != nil {
		return id.meta(key), w.err, true
	}
	m := w.meta
	m.Key = key
	return m, nil, true
}

// has reports whether key has an entry, of any file version.
func (mc *metaCache) has(key string) bool {
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	if k, ok := packKey(key); ok {
		if _, found := mc.find(k); found {
			return true
		}
	}
	_, ok := mc.wide[key]
	return ok
}

func (mc *metaCache) put(key string, m store.Meta, err error, gen uint32) {
	k, packable := packKey(key)
	var s slot
	if packable && err == nil {
		s, packable = packSlot(k, m)
	} else {
		packable = false
	}
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.deleteLocked(key)
	if !packable {
		m.Key = "" // the map key holds it
		m.UserID = cloneString(m.UserID)
		w := &wideEntry{meta: m, err: err}
		w.seen.Store(gen)
		mc.wide[cloneString(key)] = w
		return
	}
	if s.bits&flagUserNumber == 0 && m.UserID != "" {
		s.user = mc.users.intern(m.UserID)
	}
	s.seen = gen
	if (mc.count+1)*4 > len(mc.index)*maxIndexLoad {
		mc.grow()
	}
	pos, _ := mc.find(k)
	i := mc.newSlot()
	*mc.slotAt(i) = s
	mc.index[pos] = i + 1
	mc.count++
}

// cloneString copies s so that a key sliced from a directory entry name, or
// a user id sliced from a decoded session, does not keep its source alive.
func cloneString(s string) string { return string([]byte(s)) }

// deleteLocked drops key's entry, if any, with mc.mu held.
func (mc *metaCache) deleteLocked(key string) {
	if k, ok := packKey(key); ok {
		if pos, found := mc.find(k); found {
			mc.removeAt(pos)
			return
		}
	}
	delete(mc.wide, key)
}

func (mc *metaCache) invalidate(key string) {
	mc.mu.Lock()
	mc.deleteLocked(key)
	mc.mu.Unlock()
}

// sweep drops entries a complete Scan of generation gen did not see: their
// files are gone, and the cache must not grow with every session ever seen.
func (mc *metaCache) sweep(gen uint32) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	for pos := 0; pos < len(mc.index); {
		// removeAt may shift a later entry into pos: look at pos again.
		if v := mc.index[pos]; v != 0 && mc.slotAt(v-1).seen != gen {
			mc.removeAt(pos)
			continue
		}
		pos++
	}
	// removeAt only moves entries backward, into the hole at pos or after
	// it (or, wrapping, from the index's start, already checked, to its
	// end): every entry is checked once.
	for key, w := range mc.wide {
		if w.seen.Load() != gen {
			delete(mc.wide, key)
		}
	}
}

// len is the number of cached entries.
func (mc *metaCache) len() int {
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	return mc.count + len(mc.wide)
}

// interner stores each distinct non-numeric user id (a UUID, a username)
// once for all the cached sessions of that user, reference-counted so that
// the ids of swept sessions are dropped.
type interner struct {
	names  []internedName
	byName map[string]uint32 // name -> index + 1
	free   []uint32
}

type internedName struct {
	name string
	refs uint32
}

// intern returns name's id (index + 1), adding a reference.
func (in *interner) intern(name string) uint32 {
	if id, ok := in.byName[name]; ok {
		in.names[id-1].refs++
		return id
	}
	if in.byName == nil {
		in.byName = make(map[string]uint32)
	}
	name = cloneString(name)
	var id uint32
	if n := len(in.free); n > 0 {
		id, in.free = in.free[n-1], in.free[:n-1]
		in.names[id-1] = internedName{name: name, refs: 1}
	} else {
		in.names = append(in.names, internedName{name: name, refs: 1})
		id = uint32(len(in.names))
	}
	in.byName[name] = id
	return id
}

func (in *interner) name(id uint32) string { return in.names[id-1].name }

// release drops the reference a slot holds, if it holds an interned id.
func (in *interner) release(s *slot) {
	if s.bits&flagUserNumber != 0 || s.user == userNone {
		return
	}
	n := &in.names[s.user-1]
	if n.refs--; n.refs == 0 {
		delete(in.byName, n.name)
		*n = internedName{}
		in.free = append(in.free, s.user)
	}
}
