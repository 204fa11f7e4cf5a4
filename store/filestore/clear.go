package filestore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// staleTempAge is how old a leftover "_out_" temp file must be before
// ClearExpired removes it: Django writes and renames its own within
// milliseconds, so an older one is an interrupted save's.
const staleTempAge = time.Minute

// ClearExpired deletes what Django 3.2's clear_expired deletes, and nothing
// else: every session file whose load() would find it expired. As in
// Django, a file that does not decode counts as {} and so expires by its
// mtime (mtime + SESSION_COOKIE_AGE), and an empty placeholder never
// expires. Unlike Django, a symlink, directory, fifo or oversized file is
// never read or deleted (Django would follow, block on or read it). A file
// changed since it was examined (Django saved it meanwhile) is kept, or
// with opt.Removed judged again. Then, unless opt.KeepLeftovers, the
// stale temp files of interrupted saves go (Leftovers). seen, when not
// nil, is called for every entry examined (progress). With opt.DryRun
// nothing is deleted and the result lists what would be.
func (s *FileStore) ClearExpired(ctx context.Context, opt store.ClearOptions, seen func(store.Entry)) (store.ClearResult, error) {
	var (
		res      store.ClearResult
		mu       sync.Mutex // guards res.Removed, firstErr and the calls of opt.Removed
		firstErr error
		wg       sync.WaitGroup
		expired  = make(chan store.Entry, scanBatch)
	)
	now := s.cfg.Now()
	if !opt.DryRun {
		// Unlinks cost as much as the reads: spread them over the CPUs too.
		for range runtime.NumCPU() {
			wg.Go(func() {
				for e := range expired {
					removed, r, err := s.clearOne(ctx, e, now, opt.Removed != nil)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = fmt.Errorf("clearing expired sessions: %w", err)
					}
					if removed {
						res.Removed = append(res.Removed, e.Key)
						if opt.Removed != nil {
							opt.Removed(r)
						}
					}
					mu.Unlock()
				}
			})
		}
	}
	err := s.Scan(ctx, func(e store.Entry) error {
		res.Scanned++
		if seen != nil {
			seen(e)
		}
		if !s.Expired(e, now) {
			return nil
		}
		if opt.DryRun {
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
	if err != nil || opt.KeepLeftovers {
		return res, err
	}
	res.Leftovers, err = s.removeStaleTemp(ctx, staleTempAge, opt.DryRun)
	return res, err
}

// clearOne removes one expired entry: by its identity alone, or with read
// by RemoveIf, which hands back the bytes removed.
func (s *FileStore) clearOne(ctx context.Context, e store.Entry, now time.Time, read bool) (bool, store.Removal, error) {
	if !read {
		removed, err := s.deleteIfUnchanged(e.Key, e.Version)
		return removed, store.Removal{}, err
	}
	r, err := s.RemoveIf(ctx, e.Key, false, func(cur store.Entry) bool { return s.Expired(cur, now) })
	return r.Removed, r, err
}

// Expired reports whether Django's load() at now would delete the file of
// a Scan entry: what ClearExpired removes.
func (s *FileStore) Expired(e store.Entry, now time.Time) bool {
	switch {
	case e.Err == nil:
		return !e.Empty && e.Expired(now)
	case e.RawSize == 0:
		return false // emptied since listed: a placeholder
	case errors.Is(e.Err, codec.ErrBadSignature), errors.Is(e.Err, codec.ErrCorrupt), errors.Is(e.Err, codec.ErrUnknownFormat):
		// Django's decode gives {} (3.2 raises on a few corrupt payloads
		// and aborts the whole clear_expired), so the mtime decides.
		return store.Meta{Expiry: e.ModTime.Add(s.cfg.CookieAge)}.Expired(now)
	}
	// Not a regular file, too large, unreadable: never deleted.
	return false
}
