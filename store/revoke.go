package store

import (
	"context"
	"errors"
	"fmt"
)

// removeAttempts bounds how often RemoveIf re-reads a session that Django
// rewrote between the read and the unlink. A logged-in user's browser can
// save the session on every request, so one retry is not always enough.
const removeAttempts = 5

// Removal is what RemoveIf found and did.
type Removal struct {
	Entry          // the version examined last (Err set when it does not decode)
	Removed bool   // the file was deleted (or, in a dry run, would be)
	Raw     []byte // the backing file's bytes when Removed: what was deleted, for audit hashes
	JSON    []byte // its session JSON when it decoded
}

// RemoveIf deletes key's backing file if match accepts what it holds, and
// returns exactly the bytes deleted: the file is read, judged, and unlinked
// only while it is still that version, so a session Django rewrote
// meanwhile is judged again (up to removeAttempts times, then ErrConflict).
// A missing file is Removal{Removed: false} and no error. A symlink,
// directory or fifo is never removed (ErrNotRegular). With dryRun nothing is
// deleted.
func (s *FileStore) RemoveIf(ctx context.Context, key string, dryRun bool, match func(Entry) bool) (Removal, error) {
	if err := s.checkKey(key); err != nil {
		return Removal{}, err
	}
	for range removeAttempts {
		if err := ctx.Err(); err != nil {
			return Removal{}, err
		}
		data, id, err := s.readRaw(key)
		if errors.Is(err, ErrNotFound) {
			return Removal{Entry: Entry{Meta: Meta{Key: key}}}, nil
		}
		if err != nil {
			return Removal{Entry: Entry{Meta: Meta{Key: key, ID: id}, Err: err}}, err
		}
		sessionJSON, meta, decErr := s.decodeFile(key, id, data)
		r := Removal{Entry: Entry{Meta: meta, Err: decErr}, JSON: sessionJSON}
		if decErr != nil {
			r.Meta = Meta{Key: key, ID: id}
		}
		if !match(r.Entry) {
			return r, nil
		}
		r.Raw = data
		if dryRun {
			r.Removed = true
			return r, nil
		}
		removed, err := s.deleteIfUnchanged(key, id)
		if err != nil {
			return r, err
		}
		if removed {
			r.Removed = true
			return r, nil
		}
		// Rewritten (or removed) since read: look again.
	}
	return Removal{Entry: Entry{Meta: Meta{Key: key}}}, fmt.Errorf("session %s: %w (rewritten %d times while removing it)", key, ErrConflict, removeAttempts)
}

// RevokeResult summarises RevokeUser.
type RevokeResult struct {
	Scanned int
	Removed []Removal // the user's sessions deleted (dry run: that would be), in directory order
	Failed  []KeyError
}

// KeyError is a per-session failure of a bulk operation, which goes on with
// the other sessions.
type KeyError struct {
	Key string
	Err error
}

// RevokeUser deletes every session file whose _auth_user_id is userID,
// expired or not: the user is logged out everywhere. Each candidate is read
// again before its unlink (RemoveIf), so a session that Django meanwhile
// gave to another user (a new login under the same key) is kept. removed,
// when not nil, is called after each deletion (for audit logs and output).
// A failure on one session does not stop the others; it is in Failed.
func (s *FileStore) RevokeUser(ctx context.Context, userID string, dryRun bool, removed func(Removal)) (RevokeResult, error) {
	var res RevokeResult
	if userID == "" {
		return res, errors.New("revoking sessions: empty user id")
	}
	var candidates []string
	err := s.Scan(ctx, func(e Entry) error {
		res.Scanned++
		if e.Err == nil && e.UserID == userID {
			candidates = append(candidates, e.Key)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("revoking sessions of user %s: %w", userID, err)
	}
	isUsers := func(e Entry) bool { return e.Err == nil && e.UserID == userID }
	for _, key := range candidates {
		r, err := s.RemoveIf(ctx, key, dryRun, isUsers)
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
		if removed != nil {
			removed(r)
		}
	}
	return res, nil
}
