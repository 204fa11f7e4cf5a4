package cachestore

import (
	"fmt"
	"runtime"
	"testing"
)

// The set a listing dedupes SCAN's keys with holds a million keys without
// growing the Go heap (the collector would pace itself by it and a mount
// listing a million sessions would peak at twice its size), and tells new
// keys from repeated ones.
func TestSeenSetMillion(t *testing.T) {
	const n = 1000000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := newSeenSet()
	defer s.release()
	for i := range n {
		if !s.add(fmt.Sprintf("k%031d", i)) {
			t.Fatalf("key %d reported as seen", i)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perKey := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
	t.Logf("%.2f heap bytes a key", perKey)
	if perKey > 1 {
		t.Errorf("%.2f heap bytes a key", perKey)
	}
	for _, i := range []int{0, 1, 777777, n - 1} {
		if s.add(fmt.Sprintf("k%031d", i)) {
			t.Errorf("key %d added twice", i)
		}
	}
	if s.n != n {
		t.Errorf("%d keys, want %d", s.n, n)
	}
	s.release()
	if !s.add("k") || s.add("k") {
		t.Error("after release the set does not start again empty")
	}
}
