package dbstore

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/internal/offheap"
)

// metaCache remembers what decoding each session found, keyed by its key
// and checked against the row's Version, so that listing unchanged rows
// reads them but decodes none. What a row itself holds (key, size,
// expire_date) is not kept: the listing has it.
//
// A million sessions must list within a 150 MiB budget, so the common entry
// (a Django key of 32 characters, a small rendering, no decode error) is a
// 64-byte slot without pointers: the key packed 6 bits a character, the
// user id inline when it is a small number. Slots live in fixed-size chunks
// that never move, found through an open-addressing index of uint32s, both
// mapped outside the Go heap (offheap.Zeroed): the collector neither scans them
// nor counts them when pacing, so a mount holding the cache peaks near the
// cache plus a small heap. Everything else (longer keys, decode errors)
// goes to the small wide map, holding full Metas.
type metaCache struct {
	mu    sync.RWMutex
	seed  maphash.Seed
	index []uint32 // linear probing: slot number + 1; 0 is empty
	imem  []byte   // the index's mapping
	count int      // slots in use
	chunk [][]cacheSlot
	cmem  [][]byte // the chunks' mappings
	free  []uint32 // slot numbers released, reused first
	users interner
	wide  map[string]*wideEntry
}

const (
	chunkBits    = 12
	chunkSize    = 1 << chunkBits
	chunkMask    = chunkSize - 1
	minIndexSize = 64
	maxPackedKey = 32 // characters that fit a packedKey
	maxIndexLoad = 3  // the index grows past maxIndexLoad/4 full
)

// Bits of cacheSlot.bits: 2 each for format, serializer and algorithm,
// then flags.
const (
	bitsFormat     = 0
	bitsSerializer = 2
	bitsAlgorithm  = 4
	flagWrapped    = 1 << 6
	flagCompressed = 1 << 7
	flagUserNumber = 1 << 8 // user holds the decimal user id itself, not an interned index
)

// packedKey is a key of [a-z0-9] characters, 6 bits each ('0' is 1, 'a' is
// 11), zero bits after its end.
type packedKey [3]uint64

// cacheSlot is one cached session in 64 bytes and no pointers.
type cacheSlot struct {
	key      packedKey
	version  uint64 // the first 8 bytes of the Version decoded
	age      int64  // Expiry - ModTime in nanoseconds
	size     uint32 // pretty JSON length
	stamp    uint32 // format C signing time, unix seconds; 0: none
	user     uint32 // flagUserNumber ? the id : interned index + 1 (0: none)
	seen     uint32 // generation of the last Scan that saw it; atomic under the read lock
	keyIndex uint16
	bits     uint16
}

// wideEntry is an entry that does not fit a slot.
type wideEntry struct {
	version store.Version
	meta    store.Meta // what decoding derived; Key and the row's own fields are not used
	err     error
	seen    atomic.Uint32
}

func newMetaCache() *metaCache {
	return &metaCache{seed: maphash.MakeSeed(), wide: make(map[string]*wideEntry)}
}

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
		k[i/11] |= v << (6 * (i % 11))
	}
	return k, true
}

func versionWord(v store.Version) uint64 { return binary.LittleEndian.Uint64(v[:8]) }

// ageOf is what a slot keeps of ModTime: its distance to the expiry.
func ageOf(m store.Meta) int64 {
	if m.Expiry.IsZero() || m.ModTime.IsZero() {
		return 0
	}
	return int64(m.Expiry.Sub(m.ModTime))
}

// packSlot fills a slot from m, or reports that m needs a wide entry. The
// user id is interned by the caller (it needs the lock).
func packSlot(k packedKey, m store.Meta) (cacheSlot, bool) {
	const maxU32 = 1<<32 - 1
	ts := int64(0)
	if !m.Info.Timestamp.IsZero() {
		ts = m.Info.Timestamp.Unix()
	}
	if m.Size < 0 || m.Size > maxU32 || ts < 0 || ts > maxU32 || ts == 0 && !m.Info.Timestamp.IsZero() ||
		m.Info.KeyIndex < 0 || m.Info.KeyIndex > 1<<16-1 || m.Empty ||
		m.Info.Format < 0 || m.Info.Format > 3 || m.Info.Serializer < 0 || m.Info.Serializer > 3 ||
		m.Info.Algorithm < 0 || m.Info.Algorithm > 3 {
		return cacheSlot{}, false
	}
	s := cacheSlot{
		key: k, version: versionWord(m.Version), age: ageOf(m), size: uint32(m.Size), stamp: uint32(ts),
		keyIndex: uint16(m.Info.KeyIndex),
		bits: uint16(m.Info.Format)<<bitsFormat | uint16(m.Info.Serializer)<<bitsSerializer |
			uint16(m.Info.Algorithm)<<bitsAlgorithm |
			flagIf(m.Info.Wrapped, flagWrapped) | flagIf(m.Info.Compressed, flagCompressed),
	}
	if n, ok := smallDecimal(m.UserID); ok {
		s.user, s.bits = n, s.bits|flagUserNumber
	}
	return s, true
}

// smallDecimal parses a user id that is the canonical decimal text of a
// uint32 ("42", not "042" or "+42"): it can be kept as the number.
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

// fill completes m (whose row fields are set) from the slot.
func (mc *metaCache) fill(s *cacheSlot, m *store.Meta) {
	m.Size = int64(s.size)
	if !m.Expiry.IsZero() {
		m.ModTime = m.Expiry.Add(-time.Duration(s.age))
	}
	m.Info = codec.Info{
		Format:     codec.Format(s.bits >> bitsFormat & 3),
		Serializer: codec.Serializer(s.bits >> bitsSerializer & 3),
		Algorithm:  codec.Algorithm(s.bits >> bitsAlgorithm & 3),
		KeyIndex:   int(s.keyIndex),
		Wrapped:    s.bits&flagWrapped != 0, Compressed: s.bits&flagCompressed != 0,
	}
	if s.stamp != 0 {
		m.Info.Timestamp = time.Unix(int64(s.stamp), 0).UTC() // as the codec returns it
	}
	switch {
	case s.bits&flagUserNumber != 0:
		m.UserID = formatUint32(s.user)
	case s.user != 0:
		m.UserID = mc.users.name(s.user)
	default:
		m.UserID = ""
	}
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

func (mc *metaCache) slotAt(i uint32) *cacheSlot { return &mc.chunk[i>>chunkBits][i&chunkMask] }

func (mc *metaCache) home(k packedKey) int {
	return int(maphash.Comparable(mc.seed, k)) & (len(mc.index) - 1)
}

// find returns the index position holding k, or the empty position where
// it would go, and whether it was found.
func (mc *metaCache) find(k packedKey) (int, bool) {
	if len(mc.index) == 0 {
		return -1, false
	}
	mask := len(mc.index) - 1
	for pos := mc.home(k); ; pos = (pos + 1) & mask {
		v := mc.index[pos]
		if v == 0 {
			return pos, false
		}
		if mc.slotAt(v-1).key == k {
			return pos, true
		}
	}
}

// grow doubles the index (it holds slot numbers only: slots do not move).
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
	*mc.slotAt(v - 1) = cacheSlot{}
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
	chunk, mem := offheap.Zeroed[cacheSlot](chunkSize)
	mc.chunk = append(mc.chunk, chunk)
	mc.cmem = append(mc.cmem, mem)
	for j := uint32(chunkSize - 1); j > 0; j-- {
		mc.free = append(mc.free, i+j)
	}
	return i
}

// lookup completes m, a row's Meta before decoding (Key, Version, RawSize,
// Expiry set), from the entry of m.Key if it was made for m.Version, and
// returns the decode error that entry records. gen, unless 0, marks the
// entry seen by that Scan. Only the read lock is taken, so parallel scan
// workers do not serialize: seen is the one field written under it,
// atomically.
func (mc *metaCache) lookup(m *store.Meta, gen uint32) (error, bool) {
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	if k, ok := packKey(m.Key); ok {
		if pos, found := mc.find(k); found {
			s := mc.slotAt(mc.index[pos] - 1)
			if s.version != versionWord(m.Version) {
				return nil, false
			}
			if gen != 0 {
				atomic.StoreUint32(&s.seen, gen)
			}
			mc.fill(s, m)
			return nil, true
		}
	}
	w, ok := mc.wide[m.Key]
	if !ok || w.version != m.Version {
		return nil, false
	}
	if gen != 0 {
		w.seen.Store(gen)
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
func (mc *metaCache) put(m store.Meta, err error, gen uint32) {
	mc.putAll([]decoded{{m, err}}, gen)
}

// decoded is what decoding one row found.
type decoded struct {
	meta store.Meta
	err  error
}

// putAll is put for a batch (a page's decodes), under one lock.
func (mc *metaCache) putAll(batch []decoded, gen uint32) {
	if len(batch) == 0 {
		return
	}
	slots := make([]cacheSlot, len(batch))
	packable := make([]bool, len(batch))
	for i, d := range batch {
		if k, ok := packKey(d.meta.Key); ok && d.err == nil {
			slots[i], packable[i] = packSlot(k, d.meta)
		}
	}
	mc.mu.Lock()
	defer mc.mu.Unlock()
	for i, d := range batch {
		mc.putLocked(d.meta, d.err, gen, slots[i], packable[i])
	}
}

// putLocked records one entry, with mc.mu held; s is its slot when
// packable.
func (mc *metaCache) putLocked(m store.Meta, err error, gen uint32, s cacheSlot, packable bool) {
	mc.deleteLocked(m.Key)
	if !packable {
		w := &wideEntry{version: m.Version, err: err}
		if err == nil {
			w.meta = store.Meta{Size: m.Size, Info: m.Info, UserID: cloneString(m.UserID), Empty: m.Empty,
				Expiry: m.Expiry, ModTime: m.ModTime}
		}
		w.seen.Store(gen)
		mc.wide[cloneString(m.Key)] = w
		return
	}
	if s.bits&flagUserNumber == 0 && m.UserID != "" {
		s.user = mc.users.intern(m.UserID)
	}
	s.seen = gen
	if (mc.count+1)*4 > len(mc.index)*maxIndexLoad {
		mc.grow()
	}
	pos, _ := mc.find(s.key)
	i := mc.newSlot()
	*mc.slotAt(i) = s
	mc.index[pos] = i + 1
	mc.count++
}

// cloneString copies s, so that a key or user id sliced from a row does
// not keep the row's data alive.
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

// sweep drops the entries a complete Scan of generation gen did not see:
// their rows are gone, and the cache must not grow with every session ever
// seen.
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

// release empties the cache and returns its memory.
func (mc *metaCache) release() {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	offheap.Release(mc.imem)
	for _, mem := range mc.cmem {
		offheap.Release(mem)
	}
	mc.index, mc.imem, mc.count, mc.chunk, mc.cmem, mc.free = nil, nil, 0, nil, nil, nil
	mc.users, mc.wide = interner{}, make(map[string]*wideEntry)
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
func (in *interner) release(s *cacheSlot) {
	if s.bits&flagUserNumber != 0 || s.user == 0 {
		return
	}
	n := &in.names[s.user-1]
	if n.refs--; n.refs == 0 {
		delete(in.byName, n.name)
		*n = internedName{}
		in.free = append(in.free, s.user)
	}
}
