package change

import (
	"context"
	"errors"
	"fmt"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/store"
)

// RevokeResult summarises RevokeUser.
type RevokeResult struct {
	Found   int             // sessions of the user the scan found
	Removed []store.Removal // of those, the ones deleted (dry run: that would be), in scan order
	Failed  []KeyError
}

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
	return res, logErr
}
