package filestore

import (
	"context"
	"fmt"
	"github.com/sessionfs/sessionfs/store"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

func scanAll(t testing.TB, s *FileStore) map[string]store.Entry {
	t.Helper()
	got := map[string]store.Entry{}
	if err := s.Scan(context.Background(), func(e store.Entry) error { got[e.Key] = e; return nil }); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return got
}

func TestCacheAvoidsDecodes(t *testing.T) {
	s, cc := newTestStore(t)
	ctx := context.Background()
	const n = 50
	for i := range n {
		writeRaw(t, s, fmt.Sprintf("cachekey%04d", i), nil) // placeholders: no decode
	}
	// Real sessions, written directly so the cache knows nothing of them.
	for _, key := range []string{keySmall, keyLogin, keyExpiryInt, keyLegacy, keyOtherSite} {
		copyVector(t, s, key)
	}
	first := scanAll(t, s)
	if got := cc.decodes.Load(); got != 5 {
		t.Errorf("first scan: %d decodes, want 5", got)
	}
	if len(first) != n+5 {
		t.Errorf("first scan: %d entries, want %d", len(first), n+5)
	}
	cc.decodes.Store(0)
	second := scanAll(t, s)
	for _, key := range []string{keySmall, keyLogin, keyExpiryInt, keyLegacy, keyOtherSite} {
		if _, err := s.Stat(ctx, key); key != keyOtherSite && err != nil {
			t.Errorf("Stat %s: %v", key, err)
		}
	}
	if got := cc.decodes.Load(); got != 0 {
		t.Errorf("unchanged files: %d decodes on the second scan and stats, want 0", got)
	}
	for key, e := range first {
		if fmt.Sprint(second[key]) != fmt.Sprint(e) {
			t.Errorf("%s: cached entry %+v differs from decoded %+v", key, second[key], e)
		}
	}

	// A changed file (new mtime) is decoded again, once.
	setMtime(t, s.path(keyLogin), time.Now().Add(-time.Hour))
	scanAll(t, s)
	if _, err := s.Stat(ctx, keyLogin); err != nil {
		t.Fatal(err)
	}
	if got := cc.decodes.Load(); got != 1 {
		t.Errorf("after touching one file: %d decodes, want 1", got)
	}
	// A save through the store caches what it wrote.
	cc.decodes.Store(0)
	save(t, s, keySmall, `{"new":1}`)
	saveDecodes := cc.decodes.Load()
	m, err := s.Stat(ctx, keySmall)
	if err != nil || cc.decodes.Load() != saveDecodes {
		t.Errorf("Stat after Save: %v, %d decodes beyond the save's own", err, cc.decodes.Load()-saveDecodes)
	}
	if m.Size != int64(len("{\n  \"new\": 1\n}\n")) {
		t.Errorf("Stat after Save: size %d", m.Size)
	}
}

func TestCacheFollowsDeletesAndReplacements(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	copyVector(t, s, keySmall)
	copyVector(t, s, keyLogin)
	scanAll(t, s)
	if err := os.Remove(s.path(keySmall)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, keySmall); err == nil {
		t.Errorf("Stat of a removed file succeeded from the cache")
	}
	// Replace keyLogin's file by another session with the same size and
	// mtime: the inode differs, so the cache must not answer.
	fi, _ := os.Stat(s.path(keyLogin))
	data, _ := os.ReadFile("testdata/sessionid" + keyLegacy)
	tmp := s.path(keyLogin) + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	setMtime(t, tmp, fi.ModTime())
	if err := os.Rename(tmp, s.path(keyLogin)); err != nil {
		t.Fatal(err)
	}
	m, err := s.Stat(ctx, keyLogin)
	if err != nil {
		t.Fatal(err)
	}
	if m.Info.Format.String() != "legacy" {
		t.Errorf("after replacement: format %v, want legacy (stale cache?)", m.Info.Format)
	}
	scanAll(t, s)
	if n := s.cache.Len(); n != 1 {
		t.Errorf("cache holds %d entries after a full scan of 1 file", n)
	}
}

// TestCacheMemoryPerSession bounds what the cache keeps per session: a
// mount lists a million sessions in at most 150 MiB.
func TestCacheMemoryPerSession(t *testing.T) {
	const n = 100_000
	runtime.GC()
	rssBefore := residentBytes(t) // slots and index are mapped outside the heap
	mc := newMetaCache()
	m := fileID{ino: 1, size: 230, modTime: time.Now()}.meta("")
	m.Size, m.Expiry, m.UserID = 190, time.Now(), "123456"
	m.Info = codec.Info{Format: codec.FormatSigned, Serializer: codec.SerializerJSON, Timestamp: time.Now()}
	for i := range n {
		name := fmt.Sprintf("sessionid%032d", i) // as Scan slices keys from directory entry names
		mc.put(name[len("sessionid"):], m, nil, 1)
	}
	runtime.GC()
	perEntry := float64(residentBytes(t)-rssBefore) / n
	t.Logf("%.0f resident bytes per cached session", perEntry)
	if mc.Len() != n {
		t.Fatalf("%d entries, want %d", mc.Len(), n)
	}
	if perEntry > 200 {
		t.Errorf("%.0f bytes per cached session, want <= 200", perEntry)
	}
	runtime.KeepAlive(mc)
}

// TestCacheMatchesModel drives the cache's packed index (with its backward
// shift deletions and sweeps) and its wide map with random operations and
// compares every answer with a plain map.
func TestCacheMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	mc := newMetaCache()
	type want struct {
		meta store.Meta
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
		id := unpackVersion(w.meta.Version)
		if !inModel {
			id = fileID{ino: 1}
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
		other.size++
		if _, _, ok := mc.get(key, other); ok {
			t.Fatalf("%s: another file version matched", key)
		}
	}
	for op := range 200_000 {
		key := keys[rng.IntN(len(keys))]
		switch r := rng.IntN(100); {
		case r < 50:
			id := fileID{ino: rng.Uint64(), size: int64(rng.IntN(5000)), modTime: time.Unix(0, base.UnixNano()+rng.Int64N(1e15))}
			if rng.IntN(50) == 0 {
				id.size = 1 << 33 // wide
			}
			m := id.meta(key)
			m.Size = int64(rng.IntN(9000))
			m.Expiry = base.Add(time.Duration(rng.Int64N(1e15))).Local()
			m.UserID = users[rng.IntN(len(users))]
			m.Empty = rng.IntN(2) == 0
			m.Info = codec.Info{Format: codec.Format(rng.IntN(4)), Serializer: codec.Serializer(rng.IntN(3)),
				Algorithm: codec.Algorithm(rng.IntN(3)), KeyIndex: rng.IntN(3), Wrapped: rng.IntN(2) == 0, Compressed: rng.IntN(2) == 0}
			if rng.IntN(2) == 0 {
				m.Info.Timestamp = time.Unix(base.Unix()+rng.Int64N(1e6), 0).UTC()
			}
			var err error
			if rng.IntN(20) == 0 {
				err = fmt.Errorf("session %s: %w", key, codec.ErrBadSignature)
				m = id.meta(key)
			}
			mc.put(key, m, err, gen)
			model[key] = want{m, err, gen}
		case r < 70:
			mc.invalidate(key)
			delete(model, key)
		case r < 90:
			if w, ok := model[key]; ok {
				mc.getSeen(key, unpackVersion(w.meta.Version), gen)
				w.seen = gen
				model[key] = w
			}
		case r < 91:
			mc.Sweep(gen)
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
			if mc.Len() != len(model) {
				t.Fatalf("len %d, want %d", mc.Len(), len(model))
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
	// The slots and index are mapped outside the Go heap: what counts is
	// the process's resident memory, heap and mappings together.
	runtime.GC()
	rssBefore := residentBytes(t)
	mc := newMetaCache()
	now := time.Now()
	m := fileID{ino: 1, size: 230, modTime: now}.meta("")
	m.Size, m.Expiry = 190, now.Add(store.DefaultCookieAge)
	m.Info = codec.Info{Format: codec.FormatSigned, Serializer: codec.SerializerJSON, Algorithm: codec.SHA256, Compressed: true, Timestamp: now}
	for i := range n {
		name := fmt.Sprintf("sessionid%032x", uint64(i)*0x9e3779b97f4a7c15) // as Scan slices keys from names
		m.Version = fileID{ino: uint64(i), size: 230, modTime: now}.version()
		m.UserID = strconv.Itoa(i % 50_000)
		mc.put(name[len("sessionid"):], m, nil, 1)
	}
	runtime.GC()
	var heap runtime.MemStats
	runtime.ReadMemStats(&heap)
	grown := residentBytes(t) - rssBefore
	perEntry := float64(grown) / n
	t.Logf("%.1f resident bytes per cached session (%d sessions, %.1f MiB; Go heap in use %.1f MiB)",
		perEntry, mc.Len(), float64(grown)/(1<<20), float64(heap.HeapInuse)/(1<<20))
	if mc.Len() != n {
		t.Fatalf("%d entries, want %d", mc.Len(), n)
	}
	if perEntry > 100 {
		t.Errorf("%.1f bytes per cached session, want <= 100 (1,000,000 sessions in well under 150 MiB)", perEntry)
	}
	runtime.KeepAlive(mc)
}

// residentBytes is this process's resident set (VmRSS).
func residentBytes(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
