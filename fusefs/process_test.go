package fusefs

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/sessionfs/sessionfs/store"
)

// TestLostUpdateSurvivesPIDReuse: the mount remembers what a process read
// by its identity, pid and start time. A process that never read the
// session and is handed the pid of one that did writes blind, as any
// other; the reader itself is still refused; and the records of processes
// that are gone are dropped.
func TestLostUpdateSurvivesPIDReuse(t *testing.T) {
	st, _ := opsFixture(t)
	var mu sync.Mutex
	var who procID
	alive := map[procID]bool{}
	mnt, root := mountRootPrep(t, st, Options{}, nil, func(d *rootDir) {
		d.readVersions.identify = func(uint32) procID {
			mu.Lock()
			defer mu.Unlock()
			return who
		}
		d.readVersions.alive = func(p procID) bool {
			mu.Lock()
			defer mu.Unlock()
			return alive[p]
		}
	})
	become := func(p procID) {
		mu.Lock()
		defer mu.Unlock()
		who, alive[p] = p, true
	}
	path := filepath.Join(mnt, keyU7+".json")

	reader := procID{pid: 4242, start: 1000}
	become(reader)
	mustRead(t, path)
	// Django saves meanwhile.
	if _, err := st.Save(context.Background(), keyU7, []byte(`{"_auth_user_id":"7","django":1}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "the reader's save over a newer version", os.WriteFile(path, []byte(`{"_auth_user_id": "7", "reader": 1}`), 0o600), syscall.EIO)

	// The reader exits; the pid comes round to a process that never read.
	mu.Lock()
	alive[reader] = false
	mu.Unlock()
	newcomer := procID{pid: 4242, start: 2000}
	become(newcomer)
	if err := os.WriteFile(path, []byte(`{"_auth_user_id": "7", "blind": 1}`), 0o600); err != nil {
		t.Errorf("a process that never read the session, holding a recycled pid, was refused: %v", err)
	}
	if sess, err := st.Load(context.Background(), keyU7); err != nil || string(sess.JSON) != `{"_auth_user_id":"7","blind":1}` {
		t.Errorf("store after the blind write: %s %v", sess.JSON, err)
	}

	root.readVersions.sweep()
	root.readVersions.mu.Lock()
	defer root.readVersions.mu.Unlock()
	for k := range root.readVersions.m {
		if k.proc == reader {
			t.Errorf("the record of %+v survived the sweep after the process exited", k)
		}
	}
	if _, ok := root.readVersions.m[readKey{keyU7, newcomer}]; !ok {
		t.Errorf("the sweep dropped the record of a running process")
	}
}

// TestProcessIdentity: the identity of a real process, and its start time
// read from /proc/<pid>/stat whatever its command name holds.
func TestProcessIdentity(t *testing.T) {
	self := processIdentity(uint32(syscall.Gettid()))
	if self.pid != uint32(os.Getpid()) || self.start == 0 {
		t.Fatalf("identity of this process: %+v, want pid %d and a start time", self, os.Getpid())
	}
	if !processAlive(self) {
		t.Errorf("this process is not alive by its identity %+v", self)
	}
	if processAlive(procID{pid: self.pid, start: self.start + 1}) {
		t.Errorf("another start time under this pid counts as this process")
	}
	if id := processIdentity(0); id.known() {
		t.Errorf("thread 0 names a process: %+v", id)
	}
	for stat, want := range map[string]uint64{
		"77 (sh) S 1 77 77 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1 2 3":      123456,
		"77 (a) b) (c) S 1 77 77 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1 2 3": 98765,
	} {
		if got, ok := parseStart(stat); !ok || got != want {
			t.Errorf("parseStart(%q) = %d %v, want %d", stat, got, ok, want)
		}
	}
	if _, ok := parseStart("77 (truncated"); ok {
		t.Errorf("parseStart of a stat without fields succeeded")
	}
}
