package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// benchStore fills a store with n copies of a Django login session.
func benchStore(b *testing.B, n int) *FileStore {
	b.Helper()
	s, _ := newTestStore(b)
	data, err := os.ReadFile("testdata/sessionid" + keyLogin)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		writeRaw(b, s, fmt.Sprintf("benchkey%08d", i), data)
	}
	return s
}

func scanCount(b *testing.B, s *FileStore) int {
	n := 0
	if err := s.Scan(context.Background(), func(e Entry) error {
		if e.Err != nil {
			return e.Err
		}
		n++
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkScanCold decodes every file (a fresh cache each time).
func BenchmarkScanCold(b *testing.B) {
	s := benchStore(b, 10000)
	b.ResetTimer()
	for b.Loop() {
		s.cache = newMetaCache()
		scanCount(b, s)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/session")
}

// BenchmarkScanWarm: unchanged files, everything from the cache.
func BenchmarkScanWarm(b *testing.B) {
	s := benchStore(b, 10000)
	scanCount(b, s)
	b.ResetTimer()
	for b.Loop() {
		scanCount(b, s)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/session")
}

// BenchmarkStatWarm: one lstat and a cache hit.
func BenchmarkStatWarm(b *testing.B) {
	s := benchStore(b, 100)
	ctx := context.Background()
	scanCount(b, s)
	i := 0
	for b.Loop() {
		if _, err := s.Stat(ctx, fmt.Sprintf("benchkey%08d", i%100)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkStatCold: open, read and decode.
func BenchmarkStatCold(b *testing.B) {
	s := benchStore(b, 100)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		s.cache.invalidate(fmt.Sprintf("benchkey%08d", i%100))
		if _, err := s.Stat(ctx, fmt.Sprintf("benchkey%08d", i%100)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestCacheMatchesModel drives the cache's packed index (with its backward
// shift deletions and sweeps) and its wide map with random operations and
// compares every answer with a plain map.
func TestCacheMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	mc := newMetaCache()
	type want struct {
		meta Meta
		err  error
		seen uint32
	}
	model := map[string]want{}
	keys := make([]string, 3000)
	for i := range keys {
		n := 8 + rng.IntN(25) // most fit a packed key
		if i%10 == 0 {
			n = 33 + rng.IntN(40) // too long: wide
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
		}
		keys[i] = string(b)
	}
	users := []string{"", "0", "42", "4294967295", "4294967296", "007", "alice", "1f0e8c2a-8d7e-4f55-9c1e-3a0b3d2c1e00"}
	base := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	gen := uint32(1)
	check := func(key string) {
		w, inModel := model[key]
		id := w.meta.ID
		if !inModel {
			id = FileID{Ino: 1}
		}
		m, err, ok := mc.get(key, id)
		if ok != inModel || mc.has(key) != inModel {
			t.Fatalf("%s: cached %v, has %v, want %v", key, ok, mc.has(key), inModel)
		}
		if !ok {
			return
		}
		if (err != nil) != (w.err != nil) {
			t.Fatalf("%s: error %v, want %v", key, err, w.err)
		}
		if err == nil && fmt.Sprint(m) != fmt.Sprint(w.meta) {
			t.Fatalf("%s: cached\n%+v\nwant\n%+v", key, m, w.meta)
		}
		other := id
		other.Size++
		if _, _, ok := mc.get(key, other); ok {
			t.Fatalf("%s: another file version matched", key)
		}
	}
	for op := range 200_000 {
		key := keys[rng.IntN(len(keys))]
		switch r := rng.IntN(100); {
		case r < 50:
			m := Meta{Key: key,
				ID:     FileID{Ino: rng.Uint64(), Size: int64(rng.IntN(5000)), ModTime: time.Unix(0, base.UnixNano()+rng.Int64N(1e15))},
				Size:   int64(rng.IntN(9000)),
				Expiry: base.Add(time.Duration(rng.Int64N(1e15))).Local(),
				UserID: users[rng.IntN(len(users))],
				Empty:  rng.IntN(2) == 0,
				Info: codec.Info{Format: codec.Format(rng.IntN(4)), Serializer: codec.Serializer(rng.IntN(3)),
					Algorithm: codec.Algorithm(rng.IntN(3)), KeyIndex: rng.IntN(3), Wrapped: rng.IntN(2) == 0, Compressed: rng.IntN(2) == 0},
			}
			if rng.IntN(2) == 0 {
				m.Info.Timestamp = time.Unix(base.Unix()+rng.Int64N(1e6), 0).UTC()
			}
			if rng.IntN(50) == 0 {
				m.ID.Size = 1 << 33 // wide
			}
			var err error
			if rng.IntN(20) == 0 {
				err = fmt.Errorf("session %s: %w", key, codec.ErrBadSignature)
				m = Meta{Key: key, ID: m.ID}
			}
			mc.put(key, m, err, gen)
			model[key] = want{m, err, gen}
		case r < 70:
			mc.invalidate(key)
			delete(model, key)
		case r < 90:
			if w, ok := model[key]; ok {
				mc.getSeen(key, w.meta.ID, gen)
				w.seen = gen
				model[key] = w
			}
		case r < 91:
			mc.sweep(gen)
			for k, w := range model {
				if w.seen != gen {
					delete(model, k)
				}
			}
			gen++
		}
		check(key)
		if op%10_000 == 0 {
			for _, k := range keys {
				check(k)
			}
			if mc.len() != len(model) {
				t.Fatalf("len %d, want %d", mc.len(), len(model))
			}
		}
	}
}

// TestCacheMemoryMillion fills the cache with 1,000,000 sessions as a
// mount's listing would, and reports the heap it holds per session. A
// typical login session (numeric user id, 32-character key) fits the packed
// form; the budget is the mount's whole 150 MiB.
func TestCacheMemoryMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 1,000,000 entries")
	}
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	mc := newMetaCache()
	now := time.Now()
	m := Meta{ID: FileID{Ino: 1, Size: 230, ModTime: now}, Size: 190, Expiry: now.Add(DefaultCookieAge),
		Info: codec.Info{Format: codec.FormatSigned, Serializer: codec.SerializerJSON, Algorithm: codec.SHA256, Compressed: true, Timestamp: now}}
	for i := range n {
		name := fmt.Sprintf("sessionid%032x", uint64(i)*0x9e3779b97f4a7c15) // as Scan slices keys from names
		m.ID.Ino = uint64(i)
		m.UserID = strconv.Itoa(i % 50_000)
		mc.put(name[len("sessionid"):], m, nil, 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(after.HeapInuse-before.HeapInuse) / n
	t.Logf("%.1f bytes of heap in use per cached session (%d sessions, %.1f MiB)", perEntry, mc.len(), float64(after.HeapInuse-before.HeapInuse)/(1<<20))
	if mc.len() != n {
		t.Fatalf("%d entries, want %d", mc.len(), n)
	}
	if perEntry > 100 {
		t.Errorf("%.1f bytes per cached session, want <= 100 (1,000,000 sessions in well under 150 MiB)", perEntry)
	}
	runtime.KeepAlive(mc)
}
