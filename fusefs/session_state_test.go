package fusefs

import "testing"

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
