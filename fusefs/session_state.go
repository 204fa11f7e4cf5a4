package fusefs

// sessionState is where a session node is in its life. The states exclude
// each other: a node being created is not in the store yet, and a gone
// node is nothing any more. They change only through the methods below
// (with the node's mu held), and a gone node never comes back.
//
//	stored ──────────────────────────────┐
//	pending ──(saved)──> stored          ├──(removed)──> gone
//	replacing ──(saved)──> stored        │
//	gone ──(saved, removed)──> gone ─────┘
type sessionState uint8

const (
	// stateStored: the node is the store's session of its key.
	stateStored sessionState = iota
	// statePending: created through the mount, not in the store yet; the
	// first commit creates the session (and fails if Django did meanwhile).
	statePending
	// stateReplacing: created over a session hidden behind an editor's
	// backup; the first commit replaces that session, keeping its expiry.
	stateReplacing
	// stateGone: unlinked, replaced by a rename, or a create nobody
	// committed; opens, stats and commits fail with ESTALE.
	stateGone
)

func (s sessionState) String() string {
	switch s {
	case stateStored:
		return "stored"
	case statePending:
		return "pending"
	case stateReplacing:
		return "replacing"
	case stateGone:
		return "gone"
	}
	return "invalid"
}

// newSessionState is the state of a node a create makes: pending, or
// replacing a session hidden behind a backup.
func newSessionState(replacing bool) sessionState {
	if replacing {
		return stateReplacing
	}
	return statePending
}

// pending reports whether the node is not in the store yet (pending or
// replacing): its attributes come from the node, never cached.
func (s sessionState) pending() bool { return s == statePending || s == stateReplacing }

// gone reports whether the node's name no longer leads to it.
func (s sessionState) gone() bool { return s == stateGone }

// mustCreate reports whether the node's commit creates the session, so that
// a session Django created meanwhile is not overwritten.
func (s sessionState) mustCreate() bool { return s == statePending }

// saved is the state after a commit saved the node's key: stored, unless
// the node went meanwhile.
func (s sessionState) saved() sessionState {
	if s == stateGone {
		return stateGone
	}
	return stateStored
}

// removed is the state after the node's name was unlinked or replaced, or
// its create abandoned: gone, from any state.
func (s sessionState) removed() sessionState { return stateGone }
