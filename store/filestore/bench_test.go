package filestore

import (
	"context"
	"fmt"
	"github.com/sessionfs/sessionfs/store"
	"os"
	"testing"
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
	if err := s.Scan(context.Background(), func(e store.Entry) error {
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
