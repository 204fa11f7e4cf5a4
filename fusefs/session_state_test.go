package fusefs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Every state under every event, and what each state answers: the only
// ways out of pending and replacing are a save (stored) and a removal
// (gone), and nothing leaves gone.
func TestSessionStateTransitions(t *testing.T) {
	states := []sessionState{stateStored, statePending, stateReplacing, stateGone}
	for _, c := range []struct {
		from           sessionState
		saved, removed sessionState
		pending, gone  bool
		mustCreate     bool
	}{
		{from: stateStored, saved: stateStored, removed: stateGone},
		{from: statePending, saved: stateStored, removed: stateGone, pending: true, mustCreate: true},
		{from: stateReplacing, saved: stateStored, removed: stateGone, pending: true},
		{from: stateGone, saved: stateGone, removed: stateGone, gone: true},
	} {
		if got := c.from.saved(); got != c.saved {
			t.Errorf("%v saved: %v, want %v", c.from, got, c.saved)
		}
		if got := c.from.removed(); got != c.removed {
			t.Errorf("%v removed: %v, want %v", c.from, got, c.removed)
		}
		if c.from.pending() != c.pending || c.from.gone() != c.gone || c.from.mustCreate() != c.mustCreate {
			t.Errorf("%v: pending %v gone %v mustCreate %v", c.from, c.from.pending(), c.from.gone(), c.from.mustCreate())
		}
	}
	// No sequence of events reaches pending or replacing again, nor leaves gone.
	for _, s := range states {
		for _, next := range []sessionState{s.saved(), s.removed()} {
			if next.pending() {
				t.Errorf("%v reaches %v", s, next)
			}
			if s.gone() && !next.gone() {
				t.Errorf("gone reaches %v", next)
			}
		}
	}
	if newSessionState(false) != statePending || newSessionState(true) != stateReplacing {
		t.Error("a create's states")
	}
}

// A touch through a descriptor of a session file that a save by rename has
// since replaced is ESTALE: it does not renew the session now under the
// name, as futimens on a replaced file's descriptor leaves the new file
// alone on a disk.
func TestTouchOfReplacedSessionIsStale(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Unix(1700000000, 0))
	mnt := mountFake(t, st, Options{})
	path := filepath.Join(mnt, keyA+".json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tmp := filepath.Join(mnt, "new.tmp")
	if err := os.WriteFile(tmp, []byte(`{"new":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	saved := st.sessions[keyA].mtime
	st.mu.Unlock()
	old := unix.NsecToTimeval(time.Unix(1500000000, 0).UnixNano())
	err = unix.Futimes(int(f.Fd()), []unix.Timeval{old, old})
	wantErrno(t, "futimes of the replaced file", err, syscall.ESTALE)
	st.mu.Lock()
	now := st.sessions[keyA].mtime
	st.mu.Unlock()
	if !now.Equal(saved) {
		t.Errorf("the session saved under the name was renewed through the old descriptor: mtime %v, was %v", now, saved)
	}
}
