package dbstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// RemoveIf deletes key's row if match accepts what it holds, and returns
// exactly what was deleted: the row is read, judged (a row that does not
// decode or is over the size bound too, with Entry.Err set), and deleted
// only while it still holds those values (DeleteIf), so a session Django
// saved meanwhile is judged again, up to writeAttempts times, then
// store.ErrConflict. No row is Removal{Removed: false} and no error. With
// dryRun nothing is deleted.
func (s *Sessions) RemoveIf(ctx context.Context, key string, dryRun bool, match func(store.Entry) bool) (store.Removal, error) {
	if err := s.db.CheckKey(key); err != nil {
		// A row under a key Django would not make, named by its DisplayKey.
		return s.removeInvalid(ctx, key, err, dryRun, match)
	}
	for range writeAttempts {
		cur, err := s.row(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return store.Removal{Entry: store.Entry{Meta: store.Meta{Key: key}}}, nil
		}
		if err != nil {
			return store.Removal{Entry: store.Entry{Meta: store.Meta{Key: key}}}, err
		}
		sessionJSON, meta, decErr := s.decodeRow(cur)
		r := store.Removal{Entry: store.Entry{Meta: meta, Err: decErr}, JSON: sessionJSON, Raw: s.rawOf(cur)}
		if !match(r.Entry) {
			r.Raw = nil
			return r, nil
		}
		if dryRun {
			r.Removed = true
			return r, nil
		}
		err = s.db.DeleteIf(ctx, key, cur.Version)
		s.cache.invalidate(key)
		switch {
		case err == nil:
			r.Removed = true
			return r, nil
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			continue // saved or removed since read: look again
		}
		return r, err
	}
	return store.Removal{Entry: store.Entry{Meta: store.Meta{Key: key}}},
		fmt.Errorf("session %s: %w (saved by another writer %d times while removing it)", key, store.ErrConflict, writeAttempts)
}

// Renew sets expire_date to what a Django save at time at would write for
// the session (at + SESSION_COOKIE_AGE, or per _session_expiry; a row that
// does not decode is an empty session to Django), session_data unchanged,
// guarded by the row read. With a non-zero ifMatch only while the row is
// still that version (else store.ErrConflict); without, a row Django saved
// meanwhile is read again and renewed.
func (s *Sessions) Renew(ctx context.Context, key string, at time.Time, ifMatch store.Version) (store.Saved, error) {
	if err := s.db.CheckKey(key); err != nil {
		return store.Saved{}, err
	}
	for range writeAttempts {
		saved, err := s.renew(ctx, key, at, ifMatch)
		if ifMatch.IsZero() && errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			continue
		}
		return saved, err
	}
	return store.Saved{}, fmt.Errorf("session %s: %w (saved by another writer %d times while renewing it)", key, store.ErrConflict, writeAttempts)
}

func (s *Sessions) renew(ctx context.Context, key string, at time.Time, ifMatch store.Version) (store.Saved, error) {
	cur, err := s.row(ctx, key)
	if err != nil {
		return store.Saved{}, err
	}
	if !ifMatch.IsZero() && versionOf(cur) != ifMatch {
		return store.Saved{}, fmt.Errorf("session %s changed since it was read: %w", key, store.ErrConflict)
	}
	sessionJSON, _, decErr := s.decodeRow(cur)
	basis := sessionJSON
	if decErr != nil {
		basis = store.EmptySessionJSON
	}
	expire, err := s.expiryDate(key, basis, at)
	if err != nil {
		return store.Saved{}, err
	}
	r, err := s.db.UpdateIf(ctx, key, cur.Version, cur.Data, expire)
	if errors.Is(err, store.ErrNotFound) {
		return store.Saved{}, removedSince(key)
	}
	if err != nil {
		return store.Saved{}, err
	}
	// Renewed all the same when it does not decode: what it holds is the
	// caller's to judge.
	sessionJSON, meta, decErr := s.decodeRow(r)
	s.cache.put(meta, decErr, s.gen.Load())
	raw := s.rawOf(r)
	return store.Saved{Session: store.Session{Meta: meta, JSON: sessionJSON}, Raw: raw, Before: raw}, nil
}

// Rename re-keys a session with one guarded UPDATE of session_key
// (RenameIf): its session_data (not re-encoded, so a session signed with a
// fallback key stays readable), expire_date and every other column move
// with it, and some key holds the session at every moment. to must be
// free (store.ErrExists); a row Django saved between the read and the
// update is store.ErrConflict.
func (s *Sessions) Rename(ctx context.Context, from, to string) (store.Saved, error) {
	if err := s.db.CheckKey(from); err != nil {
		return store.Saved{}, err
	}
	if err := s.db.CheckKey(to); err != nil {
		return store.Saved{}, err
	}
	cur, err := s.row(ctx, from)
	if err != nil {
		return store.Saved{}, err
	}
	if from == to {
		sessionJSON, meta, _ := s.decodeRow(cur)
		return store.Saved{Session: store.Session{Meta: meta, JSON: sessionJSON}, Raw: s.rawOf(cur)}, nil
	}
	r, err := s.db.RenameIf(ctx, from, cur.Version, to)
	s.cache.invalidate(from)
	if err != nil {
		return store.Saved{}, err
	}
	sessionJSON, meta, decErr := s.decodeRow(r)
	s.cache.put(meta, decErr, s.gen.Load())
	return store.Saved{Session: store.Session{Meta: meta, JSON: sessionJSON}, Raw: s.rawOf(r), Created: true}, nil
}

// ClearExpired deletes what Django's clear_expired() deletes, rows with
// expire_date < now whatever they hold, in batches (dbstore's
// ClearExpired), never reading the live ones. Scanned is the number of rows
// in the table when it started; seen is called for every row removed (or,
// in a dry run, listed). With opt.Removed the rows' session_data comes back
// with the DELETE itself, so each Removal holds exactly the bytes deleted.
// Leftovers is always empty: a database keeps none.
func (s *Sessions) ClearExpired(ctx context.Context, opt store.ClearOptions, seen func(store.Entry)) (store.ClearResult, error) {
	var res store.ClearResult
	n, err := s.db.Count(ctx)
	if err != nil {
		return res, fmt.Errorf("clearing expired sessions: %w", err)
	}
	res.Scanned = int(n)
	withData := opt.Removed != nil && !opt.DryRun
	_, err = s.db.ClearExpired(ctx, s.cfg.Now(), ClearOptions{DryRun: opt.DryRun, WithData: withData}, func(r Row) error {
		var e store.Entry
		var sessionJSON []byte
		if withData {
			var err error
			sessionJSON, e.Meta, err = s.decodeRow(r)
			e.Err = err
		} else {
			e.Meta = s.rowMeta(r)
			if s.db.CheckKey(r.Key) != nil {
				e.Key = DisplayKey(r.Key)
			}
		}
		if !opt.DryRun {
			s.cache.invalidate(r.Key)
		}
		res.Removed = append(res.Removed, e.Key)
		if seen != nil {
			seen(e)
		}
		if withData {
			opt.Removed(store.Removal{Entry: e, Removed: true, Raw: s.rawOf(r), JSON: sessionJSON})
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("clearing expired sessions: %w", err)
	}
	return res, nil
}
