package dbstore

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/internal/metacache"
)

func cacheMeta(i int) store.Meta {
	var v store.Version
	binary.LittleEndian.PutUint64(v[:], uint64(i)*0x9e3779b97f4a7c15+1)
	exp := time.Date(2027, 1, 1, 0, 0, 0, i*1000, time.UTC)
	m := store.Meta{
		Key: fmt.Sprintf("%032x", i), Version: v, RawSize: 250, Size: 300 + int64(i%100), Expiry: exp, ExpiryInstant: true,
		ModTime: exp.Add(-store.DefaultCookieAge),
		Info: codec.Info{Format: codec.FormatSigned, Serializer: codec.SerializerJSON, Algorithm: codec.SHA256,
			Compressed: i%2 == 0, Timestamp: time.Unix(1_800_000_000+int64(i), 0).UTC()},
	}
	switch i % 3 {
	case 1:
		m.UserID = fmt.Sprint(i % 5000)
	case 2:
		m.UserID = fmt.Sprintf("user-%d", i%50) // interned
	}
	return m
}

// The cache's common entry is 64 bytes outside the Go heap (plus its share
// of the index): a listing of a million sessions keeps it under 80 MiB and
// adds next to nothing to the heap the collector paces on.
func TestMetaCacheCompact(t *testing.T) {
	if size := unsafe.Sizeof(metacache.PackedKey{}) + 8 + unsafe.Sizeof(rowSlot{}); size != 64 {
		t.Errorf("a cache slot is %d bytes", size)
	}
	const n = 200_000
	metas := make([]store.Meta, n)
	for i := range metas {
		metas[i] = cacheMeta(i)
	}
	mc := newMetaCache()
	defer mc.Release()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, m := range metas {
		mc.put(m, nil, 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	mapped, _ := mc.Footprint()
	if mapped == 0 {
		t.Fatal("nothing mapped outside the heap")
	}
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	perEntry := float64(mapped+int(max(heap, 0))) / n
	t.Logf("%d entries: %d bytes mapped, heap grew %d bytes: %.1f bytes/entry", n, mapped, heap, perEntry)
	if perEntry > 80 {
		t.Errorf("%.1f bytes per cached session (a million would take %.0f MiB)", perEntry, perEntry*1e6/(1<<20))
	}
	if heap > 2<<20 {
		t.Errorf("the heap grew by %d bytes for %d entries", heap, n)
	}
	for _, i := range []int{0, 1, 2, 12345, n - 1} {
		want := metas[i]
		got := store.Meta{Key: want.Key, Version: want.Version, RawSize: want.RawSize, Expiry: want.Expiry, ExpiryInstant: true}
		if err, ok := mc.lookup(&got, 0); !ok || err != nil || got != want {
			t.Errorf("entry %d:\n got %+v (%v %v)\nwant %+v", i, got, ok, err, want)
		}
		other := store.Meta{Key: want.Key, Version: metas[(i+1)%n].Version}
		if _, ok := mc.lookup(&other, 0); ok {
			t.Errorf("entry %d found for another version", i)
		}
	}
	// A complete scan that saw half of them drops the rest.
	for i := 0; i < n; i += 2 {
		m := store.Meta{Key: metas[i].Key, Version: metas[i].Version}
		mc.lookup(&m, 2)
	}
	mc.Sweep(2)
	if got := mc.Len(); got != n/2 {
		t.Errorf("after a sweep: %d entries, want %d", got, n/2)
	}
	if _, got := mc.Footprint(); got != 25 { // the user ids of the even entries
		t.Errorf("%d interned user ids", got)
	}
	mc.Sweep(3)
	if _, users := mc.Footprint(); mc.Len() != 0 || users != 0 {
		t.Errorf("after sweeping everything: %d entries, %d user ids", mc.Len(), users)
	}
}

// Entries that do not fit a slot (a decode error, a key longer than 32
// characters) are kept whole, keyed by key and version alike.
func TestMetaCacheWide(t *testing.T) {
	mc := newMetaCache()
	defer mc.Release()
	long := cacheMeta(7)
	long.Key = "k" + long.Key + "0123456" // 40 characters, Django's column
	mc.put(long, nil, 1)
	got := store.Meta{Key: long.Key, Version: long.Version, RawSize: long.RawSize, Expiry: long.Expiry, ExpiryInstant: true}
	if err, ok := mc.lookup(&got, 0); !ok || err != nil || got != long {
		t.Errorf("long key: %+v %v %v", got, ok, err)
	}
	bad := store.Meta{Key: cacheMeta(8).Key, Version: cacheMeta(8).Version}
	mc.put(bad, codec.ErrBadSignature, 1)
	probe := bad
	if err, ok := mc.lookup(&probe, 0); !ok || err != codec.ErrBadSignature {
		t.Errorf("decode error: %v %v", ok, err)
	}
	// A new version of the key replaces the error.
	good := cacheMeta(8)
	good.Version[0]++
	mc.put(good, nil, 1)
	if _, ok := mc.lookup(&probe, 0); ok {
		t.Errorf("the old version's error survived a new version")
	}
	if mc.Len() != 2 {
		t.Errorf("%d entries", mc.Len())
	}
}
