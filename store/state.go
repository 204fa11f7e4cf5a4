package store

import "time"

// State is what a stored session is to Django at a moment. The mount shows
// each state in its own place (the top level and .by-user, .expired,
// .invalid); stats counts by it; ls, gc and rekey select by it.
type State int

const (
	// StateLive: it decodes and Django would load it.
	StateLive State = iota
	// StateExpired: it decodes, but Django would discard it (gc clears it).
	StateExpired
	// StateInvalid: it does not decode (Entry.Err is set).
	StateInvalid
)

func (s State) String() string {
	switch s {
	case StateLive:
		return "live"
	case StateExpired:
		return "expired"
	case StateInvalid:
		return "invalid"
	}
	return "unknown"
}

// StateOf is e's State at now; whether it has expired is st's rule
// (Store.Expired).
func StateOf(st Store, e Entry, now time.Time) State {
	switch {
	case e.Err != nil:
		return StateInvalid
	case st.Expired(e, now):
		return StateExpired
	}
	return StateLive
}
