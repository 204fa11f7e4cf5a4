package change

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/store"
)

// RevokeResult summarises RevokeUser.
type RevokeResult struct {
	Found   int             // sessions of the user the scan found
	Removed []store.Removal // of those, the ones deleted (dry run: that would be), in scan order
	// CameBack are the sessions that a request in flight put back after
	// their removal, found by the re-checks of a backend whose writers are
	// unguarded (store.Description.UnguardedWriters), and removed again:
	// one Removal each time (a key that came back twice is there twice).
	CameBack []store.Removal
	Failed   []KeyError
}

// revokeRechecks bounds how often RevokeUser looks again at sessions that
// came back: each look waits Description.RecheckAfter.
const revokeRechecks = 3

// KeyError is a per-session failure of a bulk operation, which goes on with
// the other sessions.
type KeyError struct {
	Key string
	Err error
}

// RevokeUser deletes every session whose _auth_user_id is userID, expired
// or not: the user is logged out everywhere. Each candidate is read again
// before its removal (store.RemoveIf), so a session that Django meanwhile
// gave to another user (a new login under the same key) is kept. Each
// removal is recorded as a revoke; removed, when not nil, is called after
// each (output). A failure on one session does not stop the others; it is
// in Failed. The error is a failed scan, or a failure to record.
//
// When the backend's own writers are unguarded (Django's cache save is a
// GET then a SET), a request that loaded a session before its removal can
// save it back afterwards. RevokeUser then waits Description.RecheckAfter,
// looks again at every session it removed, removes those of the user that
// came back (CameBack, recorded as revokes), and repeats for those, up to
// revokeRechecks times. A request that saves later still than that can
// bring a session back: the user's password change is Django's own
// guarantee.
func RevokeUser(ctx context.Context, st store.Store, userID string, dryRun bool, a Audit, removed func(store.Removal)) (RevokeResult, error) {
	var res RevokeResult
	if userID == "" {
		return res, errors.New("revoking sessions: empty user id")
	}
	var candidates []string
	err := st.ScanUser(ctx, userID, func(e store.Entry) error {
		candidates = append(candidates, e.Key)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("revoking sessions of user %s: %w", userID, err)
	}
	res.Found = len(candidates)
	isUsers := func(e store.Entry) bool { return e.Err == nil && e.UserID == userID }
	var logErr error
	for _, key := range candidates {
		r, err := st.RemoveIf(ctx, key, dryRun, isUsers)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if err != nil {
			res.Failed = append(res.Failed, KeyError{Key: key, Err: err})
			continue
		}
		if !r.Removed {
			continue
		}
		res.Removed = append(res.Removed, r)
		if !dryRun {
			if err := a.recordRemoval(audit.OpRevoke, r, "user "+userID); err != nil && logErr == nil {
				logErr = err
			}
		}
		if removed != nil {
			removed(r)
		}
	}
	if d := st.Describe(); !dryRun && d.UnguardedWriters && len(res.Removed) > 0 {
		keys := make([]string, len(res.Removed))
		for i, r := range res.Removed {
			keys[i] = r.Key
		}
		for round := 0; round < revokeRechecks && len(keys) > 0; round++ {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(d.RecheckAfter):
			}
			var again []string
			for _, key := range keys {
				r, err := st.RemoveIf(ctx, key, false, isUsers)
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				if err != nil {
					res.Failed = append(res.Failed, KeyError{Key: key, Err: fmt.Errorf("looking again after its removal: %w", err)})
					continue
				}
				if !r.Removed {
					continue
				}
				res.CameBack = append(res.CameBack, r)
				again = append(again, key)
				if err := a.recordRemoval(audit.OpRevoke, r, "user "+userID+"; saved back by a request in flight after its removal"); err != nil && logErr == nil {
					logErr = err
				}
			}
			keys = again
		}
	}
	return res, logErr
}
