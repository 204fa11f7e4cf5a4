package cachestore

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// The metadata cache of a million sessions stays small and pointer-free,
// finds what it holds, and a sweep keeps exactly what the scan saw.
func TestMetaCacheMillion(t *testing.T) {
	const n = 1000000
	version := func(i int) Version {
		var v Version
		v[0], v[1], v[2], v[3] = 'r', byte(i), byte(i>>8), byte(i>>16)
		return v
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	mc := newMetaCache()
	gen := mc.startScan()
	for i := range n {
		user := fmt.Sprint(i % 5000)
		if i%100 == 0 {
			user = fmt.Sprintf("u-%d", i) // not a small number: interned
		}
		mc.put(fmt.Sprintf("k%031d", i), version(i), facts{size: int64(i % 900), userID: user, age: 1209600 * time.Second}, gen)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	mapped, _ := mc.c.Footprint()
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	perSession := float64(int64(mapped)+max(heap, 0)) / n
	t.Logf("%.1f bytes a session (%d mapped outside the heap, heap grew %d)", perSession, mapped, heap)
	if perSession > 56 {
		t.Errorf("%.1f bytes a session", perSession)
	}
	for _, i := range []int{0, 1, 4999, 100, 777777, n - 1} {
		f, ok := mc.get(fmt.Sprintf("k%031d", i), version(i), 0)
		want := fmt.Sprint(i % 5000)
		if i%100 == 0 {
			want = fmt.Sprintf("u-%d", i)
		}
		if !ok || f.userID != want || f.size != int64(i%900) || f.age != 1209600*time.Second {
			t.Fatalf("entry %d: %+v %v", i, f, ok)
		}
	}
	if _, ok := mc.get("k", version(1), 0); ok {
		t.Fatal("an entry under another key")
	}
	// A scan that sees every other session: the sweep keeps those.
	gen = mc.startScan()
	for i := 0; i < n; i += 2 {
		if _, ok := mc.get(fmt.Sprintf("k%031d", i), version(i), gen); !ok {
			t.Fatalf("entry %d lost", i)
		}
	}
	mc.sweep(gen)
	if _, users := mc.c.Footprint(); mc.c.Len() != n/2 || users != n/100 { // every hundredth, all even
		t.Fatalf("after the sweep: %d entries, %d interned user ids", mc.c.Len(), users)
	}
	for _, i := range []int{0, 1, 2, 100, 101, 999998, 999999} {
		_, ok := mc.get(fmt.Sprintf("k%031d", i), version(i), 0)
		if ok != (i%2 == 0) {
			t.Errorf("entry %d after the sweep: %v", i, ok)
		}
	}
}
