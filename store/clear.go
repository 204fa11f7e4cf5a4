package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// ClearExpired deletes what Django 3.2's clear_expired deletes, and nothing
// else: every session file whose load() would find it expired. As in
// Django, a file that does not decode counts as {} and so expires by its
// mtime (mtime + SESSION_COOKIE_AGE), and an empty placeholder never
// expires. Unlike Django, a symlink, directory, fifo or oversized file is
// never read or deleted (Django would follow, block on or read it). A file
// changed since it was examined (Django saved it meanwhile) is kept. With
// dryRun nothing is deleted and Removed lists what would be.
func (s *FileStore) ClearExpired(ctx context.Context, dryRun bool) (ClearResult, error) {
	return s.ClearExpiredFunc(ctx, dryRun, nil)
}

// ClearExpiredFunc is ClearExpired calling seen (when not nil) for every
// entry examined, for progress display. Removed is in no particular order:
// deletions run in parallel.
func (s *FileStore) ClearExpiredFunc(ctx context.Context, dryRun bool, seen func(Entry)) (ClearResult, error) {
	var (
		res      ClearResult
		mu       sync.Mutex // guards res.Removed and firstErr
		firstErr error
		wg       sync.WaitGroup
		expired  = make(chan Entry, scanBatch)
	)
	if !dryRun {
		// Unlinks cost as much as the reads: spread them over the CPUs too.
		for range runtime.NumCPU() {
			wg.Go(func() {
				for e := range expired {
					removed, err := s.deleteIfUnchanged(e.Key, e.ID)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = fmt.Errorf("clearing expired sessions: %w", err)
					}
					if removed {
						res.Removed = append(res.Removed, e.Key)
					}
					mu.Unlock()
				}
			})
		}
	}
	now := s.cfg.Now()
	err := s.Scan(ctx, func(e Entry) error {
		res.Scanned++
		if seen != nil {
			seen(e)
		}
		if !s.ExpiredForDjango(e, now) {
			return nil
		}
		if dryRun {
			res.Removed = append(res.Removed, e.Key)
			return nil
		}
		mu.Lock()
		failed := firstErr
		mu.Unlock()
		if failed != nil {
			return failed
		}
		expired <- e
		return nil
	})
	close(expired)
	wg.Wait()
	if err == nil {
		err = firstErr
	}
	return res, err
}

// ExpiredForDjango reports whether Django's load() at now would delete the
// file of a Scan entry: what ClearExpired removes.
func (s *FileStore) ExpiredForDjango(e Entry, now time.Time) bool {
	switch {
	case e.Err == nil:
		return !e.Empty && e.Expired(now)
	case e.ID.Size == 0:
		return false // emptied since listed: a placeholder
	case errors.Is(e.Err, codec.ErrBadSignature), errors.Is(e.Err, codec.ErrCorrupt), errors.Is(e.Err, codec.ErrUnknownFormat):
		// Django's decode gives {} (3.2 raises on a few corrupt payloads
		// and aborts the whole clear_expired), so the mtime decides.
		return Meta{Expiry: e.ID.ModTime.Add(s.cfg.CookieAge)}.Expired(now)
	}
	// Not a regular file, too large, unreadable: never deleted.
	return false
}
