package fusefs

import (
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// TestRecentBatchesMeta: a listing answers a lookup only from its last
// recentListedBatches batches, with metadata younger than listedMetaFresh
// read at the current change generation.
func TestRecentBatchesMeta(t *testing.T) {
	now := time.Now()
	entry := func(name string, read time.Time, gen uint64) []listed {
		m := store.Meta{Key: name}
		e := listed{meta: &m, read: read, gen: gen}
		e.Name = name
		return []listed{e}
	}
	var r recentBatches
	r.push(entry("old.json", now, 1))
	r.push(entry("a.json", now.Add(-listedMetaFresh/2), 1))
	r.push(entry("b.json", now.Add(-listedMetaFresh), 1))
	for _, c := range []struct {
		name string
		gen  uint64
		want bool
	}{
		{"a.json", 1, true},
		{"a.json", 2, false},   // a change went through the mount since
		{"b.json", 1, false},   // too old
		{"old.json", 1, false}, // no longer among the recent batches
		{"c.json", 1, false},
	} {
		if got := r.meta(c.name, now, c.gen) != nil; got != c.want {
			t.Errorf("meta(%s, gen %d) found: %v, want %v", c.name, c.gen, got, c.want)
		}
	}
}
