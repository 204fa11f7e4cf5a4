package cacheddb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// Save is the row's save (guarded as the rows' Save is), then the
// deletion of the cache copy. If the copy cannot be deleted, the row is
// saved all the same: Saved says what it holds, and the error says that
// Django serves the old copy until it expires.
func (s *Store) Save(ctx context.Context, key string, sessionJSON []byte, opt store.SaveOptions) (store.Saved, error) {
	saved, err := s.rows.Save(ctx, key, sessionJSON, opt)
	if err != nil || opt.DryRun {
		return saved, err
	}
	return saved, s.dropCopy(ctx, key)
}

// removeAttempts bounds how often a copy without a row is read again when
// it changes between its read and its deletion.
const removeAttempts = 5

// RemoveIf is the row's RemoveIf, then the deletion of the cache copy. A
// key without a row may still have a copy Django serves (a request put it
// back after a removal, or the row was deleted behind Django's back): the
// copy is then judged (Entry from the pickled dict; Err when it does not
// decode) and deleted only as it was judged.
func (s *Store) RemoveIf(ctx context.Context, key string, dryRun bool, match func(store.Entry) bool) (store.Removal, error) {
	r, err := s.rows.RemoveIf(ctx, key, dryRun, match)
	switch {
	case err != nil:
		return r, err
	case r.Removed:
		if !dryRun {
			err = s.dropCopy(ctx, key)
		}
		return r, err
	case !r.Version.IsZero() || r.Err != nil:
		return r, nil // a row, not accepted
	}
	for range removeAttempts {
		it, err := s.cache.Get(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return r, nil
		case err != nil && it.Err == nil:
			return r, err
		}
		e, js := s.copyEntry(it)
		c := store.Removal{Entry: e, JSON: js, Raw: it.Value}
		if !match(e) {
			c.Raw = nil
			return c, nil
		}
		if dryRun {
			c.Removed = true
			return c, nil
		}
		switch err := s.cache.DeleteIf(ctx, key, it.Version); {
		case err == nil:
			c.Removed = true
			return c, nil
		case !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound):
			return c, err
		}
	}
	return r, fmt.Errorf("session %s: %w (its cache copy rewritten %d times while removing it)", key, store.ErrConflict, removeAttempts)
}

// Renew is the row's Renew, then the deletion of the cache copy, whose TTL
// Django set from the old expire_date.
func (s *Store) Renew(ctx context.Context, key string, at time.Time, ifMatch store.Version) (store.Saved, error) {
	saved, err := s.rows.Renew(ctx, key, at, ifMatch)
	if err != nil {
		return saved, err
	}
	return saved, s.dropCopy(ctx, key)
}

// Rename is the row's Rename, then the deletion of both keys' cache
// copies: Django must not serve the old key from its copy any more.
func (s *Store) Rename(ctx context.Context, from, to string) (store.Saved, error) {
	saved, err := s.rows.Rename(ctx, from, to)
	if err != nil || from == to {
		return saved, err
	}
	return saved, errors.Join(s.dropCopy(ctx, from), s.dropCopy(ctx, to))
}

// ClearExpired is the rows' (Django's clear_expired for cached_db is the
// db backend's), then the deletion of the cache copies of the rows
// removed; their TTLs end with the rows' expiry anyway.
func (s *Store) ClearExpired(ctx context.Context, opt store.ClearOptions, seen func(store.Entry)) (store.ClearResult, error) {
	res, err := s.rows.ClearExpired(ctx, opt, seen)
	if opt.DryRun {
		return res, err
	}
	for _, key := range res.Removed {
		if dropErr := s.dropCopy(ctx, key); dropErr != nil {
			err = errors.Join(err, dropErr)
		}
	}
	return res, err
}
