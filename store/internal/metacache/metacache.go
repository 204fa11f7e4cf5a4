// Package metacache is the metadata cache every store backend keeps: what
// decoding each session found, so that a listing of unchanged sessions
// decodes none of them.
//
// A mount may list a million sessions within a 150 MiB budget, so the
// common entry is a pointer-free slot: an identity K (a packed session key,
// or a hash), the generation of the last Scan that saw it, the user id
// (inline when it is a small number, else interned), and a value V of the
// backend's own. Slots live in fixed-size chunks that never move (growing
// copies nothing) and are found through an open-addressing index of
// uint32s, so the garbage collector has nothing to scan and the index's
// slack costs 4 bytes a slot. Chunks and index live outside the Go heap
// (store/internal/offheap). What does not fit a slot (a long key, a decode
// error, figures out of range) is a wide entry W in a small map keyed by
// the session key. A backend keeps one key in at most one of the two.
package metacache

import (
	"fmt"
	"hash/maphash"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/sessionfs/sessionfs/store/internal/offheap"
)

// Cache holds slots of value V under identity K and wide entries W under
// session keys. V and K must hold no pointers (New checks).
type Cache[K comparable, V, W any] struct {
	mu    sync.RWMutex
	seed  maphash.Seed
	index []uint32 // linear probing: slot number + 1; 0 is empty
	imem  []byte   // the index's mapping
	count int      // slots in use
	chunk [][]slot[K, V]
	cmem  [][]byte // the chunks' mappings
	free  []uint32 // slot numbers released, reused first
	users interner
	wide  map[string]*wideEntry[W]
}

// slot is one entry: for a packed key and a 40-byte V, 72 bytes.
type slot[K comparable, V any] struct {
	key  K
	seen uint32 // generation of the last Scan that saw it; atomic under the read lock
	user uint32 // userNumber|id, or an interned index + 1 (0: none)
	val  V
}

type wideEntry[W any] struct {
	val  W
	seen atomic.Uint32
}

const (
	chunkBits    = 12
	chunkSize    = 1 << chunkBits
	chunkMask    = chunkSize - 1
	minIndexSize = 64
	maxIndexLoad = 3 // the index grows past maxIndexLoad/4 full

	// userNumber marks a slot's user holding the decimal user id itself
	// (below 1<<31); other user ids are interned.
	userNumber = 1 << 31
)

// Entry is what Put stores: V and User in the slot of K when InSlot, else
// W as Key's wide entry. Packed says K is set (a backend that could not
// pack the key stores it wide).
type Entry[K comparable, V, W any] struct {
	Key    string
	K      K
	Packed bool
	InSlot bool
	V      V
	User   string
	W      W
}

// New returns an empty cache.
func New[K comparable, V, W any]() *Cache[K, V, W] {
	if hasPointers(reflect.TypeFor[slot[K, V]]()) {
		panic(fmt.Sprintf("metacache: %v holds pointers", reflect.TypeFor[slot[K, V]]()))
	}
	return &Cache[K, V, W]{seed: maphash.MakeSeed(), wide: make(map[string]*wideEntry[W])}
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	}
	return true
}

func (c *Cache[K, V, W]) slotAt(i uint32) *slot[K, V] { return &c.chunk[i>>chunkBits][i&chunkMask] }

func (c *Cache[K, V, W]) home(k K) int {
	return int(maphash.Comparable(c.seed, k)) & (len(c.index) - 1)
}

// find returns the index position holding k, or the empty position where
// it would go, and whether it was found.
func (c *Cache[K, V, W]) find(k K) (int, bool) {
	if len(c.index) == 0 {
		return -1, false
	}
	mask := len(c.index) - 1
	for pos := c.home(k); ; pos = (pos + 1) & mask {
		v := c.index[pos]
		if v == 0 {
			return pos, false
		}
		if c.slotAt(v-1).key == k {
			return pos, true
		}
	}
}

// grow doubles the index (it holds slot numbers only: slots do not move).
func (c *Cache[K, V, W]) grow() {
	old, oldMem := c.index, c.imem
	defer offheap.Release(oldMem)
	c.index, c.imem = offheap.Zeroed[uint32](max(minIndexSize, 2*len(old)))
	mask := len(c.index) - 1
	for _, v := range old {
		if v == 0 {
			continue
		}
		pos := c.home(c.slotAt(v - 1).key)
		for c.index[pos] != 0 {
			pos = (pos + 1) & mask
		}
		c.index[pos] = v
	}
}

// removeAt empties index position pos and shifts back the entries after it
// that were displaced, so lookups never need tombstones.
func (c *Cache[K, V, W]) removeAt(pos int) {
	v := c.index[pos]
	c.users.release(c.slotAt(v - 1).user)
	*c.slotAt(v - 1) = slot[K, V]{}
	c.free = append(c.free, v-1)
	c.count--
	mask := len(c.index) - 1
	hole := pos
	for j := (pos + 1) & mask; c.index[j] != 0; j = (j + 1) & mask {
		h := c.home(c.slotAt(c.index[j] - 1).key)
		// Move j into the hole unless its home lies cyclically in (hole, j].
		if (j > hole && (h <= hole || h > j)) || (j < hole && h <= hole && h > j) {
			c.index[hole] = c.index[j]
			hole = j
		}
	}
	c.index[hole] = 0
}

// newSlot returns a free slot number.
func (c *Cache[K, V, W]) newSlot() uint32 {
	if n := len(c.free); n > 0 {
		i := c.free[n-1]
		c.free = c.free[:n-1]
		return i
	}
	i := uint32(len(c.chunk) * chunkSize)
	chunk, mem := offheap.Zeroed[slot[K, V]](chunkSize) // kept until Release: freed slots are reused
	c.chunk = append(c.chunk, chunk)
	c.cmem = append(c.cmem, mem)
	for j := uint32(chunkSize - 1); j > 0; j-- {
		c.free = append(c.free, i+j)
	}
	return i
}

// Get returns the value and user id in k's slot if match accepts the
// value, marking the slot seen by Scan generation gen unless gen is 0.
// Only the read lock is taken, so parallel scan workers do not serialize:
// seen is the one field written under it, atomically.
func (c *Cache[K, V, W]) Get(k K, gen uint32, match func(*V) bool) (V, string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	pos, found := c.find(k)
	if !found {
		var zero V
		return zero, "", false
	}
	s := c.slotAt(c.index[pos] - 1)
	if !match(&s.val) {
		var zero V
		return zero, "", false
	}
	if gen != 0 {
		atomic.StoreUint32(&s.seen, gen)
	}
	return s.val, c.userName(s.user), true
}

// GetWide returns key's wide entry if match accepts it, marking it seen by
// generation gen unless gen is 0.
func (c *Cache[K, V, W]) GetWide(key string, gen uint32, match func(*W) bool) (W, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	w, ok := c.wide[key]
	if !ok || !match(&w.val) {
		var zero W
		return zero, false
	}
	if gen != 0 {
		w.seen.Store(gen)
	}
	return w.val, true
}

// Has reports whether key (packed as k when packed) has an entry, of any
// version.
func (c *Cache[K, V, W]) Has(key string, k K, packed bool) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if packed {
		if _, found := c.find(k); found {
			return true
		}
	}
	_, ok := c.wide[key]
	return ok
}

// Put stores e, seen by generation gen, replacing what its key and K held.
func (c *Cache[K, V, W]) Put(e Entry[K, V, W], gen uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(&e, gen)
}

// PutAll is Put for a batch, under one lock.
func (c *Cache[K, V, W]) PutAll(batch []Entry[K, V, W], gen uint32) {
	if len(batch) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range batch {
		c.putLocked(&batch[i], gen)
	}
}

func (c *Cache[K, V, W]) putLocked(e *Entry[K, V, W], gen uint32) {
	c.deleteLocked(e.Key, e.K, e.Packed)
	if !e.InSlot || !e.Packed {
		w := &wideEntry[W]{val: e.W}
		w.seen.Store(gen)
		c.wide[CloneString(e.Key)] = w
		return
	}
	s := slot[K, V]{key: e.K, seen: gen, val: e.V}
	if n, ok := smallDecimal(e.User); ok {
		s.user = userNumber | n
	} else if e.User != "" {
		s.user = c.users.intern(e.User)
	}
	if (c.count+1)*4 > len(c.index)*maxIndexLoad {
		c.grow()
	}
	pos, _ := c.find(e.K)
	i := c.newSlot()
	*c.slotAt(i) = s
	c.index[pos] = i + 1
	c.count++
}

// Update calls fn on the value in k's slot under the write lock, and
// reports whether there is one.
func (c *Cache[K, V, W]) Update(k K, fn func(*V)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	pos, found := c.find(k)
	if found {
		fn(&c.slotAt(c.index[pos] - 1).val)
	}
	return found
}

// UpdateWide calls fn on key's wide entry under the write lock, and
// reports whether there is one.
func (c *Cache[K, V, W]) UpdateWide(key string, fn func(*W)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.wide[key]
	if ok {
		fn(&w.val)
	}
	return ok
}

// Delete drops key's entry (k's slot when packed, or the wide one).
func (c *Cache[K, V, W]) Delete(key string, k K, packed bool) {
	c.mu.Lock()
	c.deleteLocked(key, k, packed)
	c.mu.Unlock()
}

func (c *Cache[K, V, W]) deleteLocked(key string, k K, packed bool) {
	if packed {
		if pos, found := c.find(k); found {
			c.removeAt(pos)
		}
	}
	delete(c.wide, key)
}

// Sweep drops the entries a complete Scan of generation gen did not see:
// their sessions are gone, and the cache must not grow with every session
// ever seen.
func (c *Cache[K, V, W]) Sweep(gen uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for pos := 0; pos < len(c.index); {
		// removeAt may shift a later entry into pos: look at pos again.
		if v := c.index[pos]; v != 0 && c.slotAt(v-1).seen != gen {
			c.removeAt(pos)
			continue
		}
		pos++
	}
	// removeAt only moves entries backward, into the hole at pos or after
	// it (or, wrapping, from the index's start, already checked, to its
	// end): every entry is checked once.
	for key, w := range c.wide {
		if w.seen.Load() != gen {
			delete(c.wide, key)
		}
	}
}

// Len is the number of entries, slots and wide.
func (c *Cache[K, V, W]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.count + len(c.wide)
}

// Release empties the cache and returns its memory; the cache stays usable.
func (c *Cache[K, V, W]) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	offheap.Release(c.imem)
	for _, mem := range c.cmem {
		offheap.Release(mem)
	}
	c.index, c.imem, c.count, c.chunk, c.cmem, c.free = nil, nil, 0, nil, nil, nil
	c.users, c.wide = interner{}, make(map[string]*wideEntry[W])
}

// Footprint is what the cache holds outside the Go heap, in bytes, and the
// number of distinct interned user ids.
func (c *Cache[K, V, W]) Footprint() (mapped, users int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	mapped = len(c.imem)
	for _, mem := range c.cmem {
		mapped += len(mem)
	}
	return mapped, len(c.users.byName)
}

func (c *Cache[K, V, W]) userName(u uint32) string {
	switch {
	case u&userNumber != 0:
		return FormatUint32(u &^ userNumber)
	case u != 0:
		return c.users.name(u)
	}
	return ""
}

// CloneString copies s, so that a key or user id sliced from a directory
// entry name, a row or a decoded session does not keep its source alive.
func CloneString(s string) string { return string([]byte(s)) }

// smallDecimal parses a user id that is the canonical decimal text of a
// number below 1<<31 ("42", not "042" or "+42"): the slot keeps the number.
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
	return uint32(n), n < userNumber
}

// FormatUint32 is the decimal text of n, without allocating for small n.
func FormatUint32(n uint32) string {
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

// interner stores each distinct user id that is not a small number (a
// UUID, a username) once for all the cached sessions of that user,
// reference-counted so that the ids of swept sessions are dropped.
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
	name = CloneString(name)
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

// release drops the reference a slot's user holds, if it is interned.
func (in *interner) release(u uint32) {
	if u&userNumber != 0 || u == 0 {
		return
	}
	n := &in.names[u-1]
	if n.refs--; n.refs == 0 {
		delete(in.byName, n.name)
		*n = internedName{}
		in.free = append(in.free, u)
	}
}
