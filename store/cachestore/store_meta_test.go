package cachestore

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// The metadata cache of a million sessions stays small and off the Go
// heap, finds what it holds, and a sweep keeps exactly what the scan saw.
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
			user = fmt.Sprintf("u-%d", i) // not a small number: the side map
		}
		mc.put(fmt.Sprintf("k%031d", i), version(i), facts{size: int64(i % 900), userID: user, age: 1209600 * time.Second}, gen)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// The slots and the index are outside the heap; what is left on it is
	// the side map of the wide user ids (one session in a hundred here).
	perSession := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.1f heap bytes a session", perSession)
	if perSession > 8 {
		t.Errorf("%.1f heap bytes a session", perSession)
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
	if mc.n != n/2 || len(mc.users) != n/100 { // every hundredth, all even
		t.Fatalf("after the sweep: %d slots, %d wide user ids", mc.n, len(mc.users))
	}
	for _, i := range []int{0, 1, 2, 100, 101, 999998, 999999} {
		_, ok := mc.get(fmt.Sprintf("k%031d", i), version(i), 0)
		if ok != (i%2 == 0) {
			t.Errorf("entry %d after the sweep: %v", i, ok)
		}
	}
}
