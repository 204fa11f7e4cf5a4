package store

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

func scanAll(t testing.TB, s *FileStore) map[string]Entry {
	t.Helper()
	got := map[string]Entry{}
	if err := s.Scan(context.Background(), func(e Entry) error { got[e.Key] = e; return nil }); err != nil {
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
	if n := s.cache.len(); n != 1 {
		t.Errorf("cache holds %d entries after a full scan of 1 file", n)
	}
}

// TestCacheMemoryPerSession bounds what the cache keeps per session: a
// mount lists a million sessions in at most 150 MiB (issue 7).
func TestCacheMemoryPerSession(t *testing.T) {
	const n = 100_000
	mc := newMetaCache()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := Meta{ID: FileID{Ino: 1, Size: 230, ModTime: time.Now()}, Size: 190, Expiry: time.Now(), UserID: "123456",
		Info: codec.Info{Format: codec.FormatSigned, Serializer: codec.SerializerJSON, Timestamp: time.Now()}}
	for i := range n {
		name := fmt.Sprintf("sessionid%032d", i) // as Scan slices keys from directory entry names
		mc.put(name[len("sessionid"):], m, nil, 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes per cached session", perEntry)
	if perEntry > 200 {
		t.Errorf("%.0f bytes per cached session, want <= 200", perEntry)
	}
	runtime.KeepAlive(mc)
}
