package fusefs

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestSavesSurviveSignals: the Go runtime interrupts its own threads with
// SIGURG (preemption, GC) while close() waits for the mount's save; the
// kernel forwards that as FUSE_INTERRUPT. A save must complete all the same
// and close() report it, never EINTR.
func TestSavesSurviveSignals(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"n":0}`, time.Unix(1700000000, 0))
	st.saveDelay = 2 * time.Millisecond // a save long enough to be interrupted
	mnt := mountFake(t, st, Options{CacheTimeout: 10 * time.Millisecond})
	path := filepath.Join(mnt, keyA+".json")

	var stop atomic.Bool
	done := make(chan struct{})
	go func() { // keeps the runtime preempting and collecting
		defer close(done)
		var sink [][]byte
		for !stop.Load() {
			sink = append(sink, make([]byte, 64<<10))
			if len(sink) > 64 {
				sink = sink[:0]
			}
		}
	}()
	defer func() { stop.Store(true); <-done }()

	failures := 0
	for i := 1; i <= 300; i++ {
		if err := os.WriteFile(path, []byte(fmt.Sprintf(`{"n":%d}`, i)), 0o600); err != nil {
			failures++
			if failures <= 3 {
				t.Errorf("save %d: %v", i, err)
			}
		}
	}
	if failures > 0 {
		t.Errorf("%d of 300 saves failed", failures)
	}
	if got := st.get(keyA); got != `{"n":300}` {
		t.Errorf("store holds %s after the last save", got)
	}
}
