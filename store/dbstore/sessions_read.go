package dbstore

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sessionfs/sessionfs/store"
)

// Stat returns key's Meta: the row is read, and decoded only when the
// metadata cache has nothing for its Version. A row that does not decode
// is an error wrapping the codec's, with the row's Meta.
func (s *Sessions) Stat(ctx context.Context, key string) (store.Meta, error) {
	r, err := s.row(ctx, key)
	if err != nil {
		return store.Meta{Key: key}, err
	}
	e := s.entry(r, 0)
	return e.Meta, e.Err
}

// Load reads and decodes key's session. An expired session is returned as
// it is, with Meta.Expiry saying so; a row that does not decode is an
// error wrapping the codec's (never an empty session, unlike Django).
func (s *Sessions) Load(ctx context.Context, key string) (*store.Session, error) {
	r, err := s.row(ctx, key)
	if err != nil {
		return nil, err
	}
	sessionJSON, meta, err := s.decodeRow(r)
	s.cache.put(meta, err, s.gen.Load())
	if err != nil {
		return nil, err
	}
	return &store.Session{Meta: meta, JSON: sessionJSON}, nil
}

// ReadRaw returns key's session_data and the row's Version; a row over the
// size bound is store.ErrTooLarge.
func (s *Sessions) ReadRaw(ctx context.Context, key string) ([]byte, store.Version, error) {
	r, err := s.row(ctx, key)
	if err != nil {
		return nil, store.Version{}, err
	}
	if err := s.checkStoredSize(r); err != nil {
		return nil, versionOf(r), err
	}
	return []byte(r.Data), versionOf(r), nil
}

// row reads key's row, expired or not, after checking the key.
func (s *Sessions) row(ctx context.Context, key string) (Row, error) {
	if err := s.db.CheckKey(key); err != nil {
		return Row{}, err
	}
	if err := ctx.Err(); err != nil {
		return Row{}, err
	}
	return s.db.get(ctx, key)
}

// entry is a row's Scan entry: from the cache when it describes the row's
// Version, else decoded (and cached). gen, unless 0, marks the cache entry
// seen by that Scan. Rows under keys that are not Django's shape are never
// cached: they are rare, and cheap to judge.
func (s *Sessions) entry(r Row, gen uint32) store.Entry {
	meta := s.rowMeta(r)
	if err, ok := s.cache.lookup(&meta, gen); ok {
		return store.Entry{Meta: meta, Err: err}
	}
	_, full, err := s.decodeRow(r)
	if err != nil {
		if s.db.CheckKey(r.Key) == nil {
			s.cache.put(full, err, max(gen, s.gen.Load()))
		}
		return store.Entry{Meta: full, Err: err}
	}
	s.cache.put(full, nil, max(gen, s.gen.Load()))
	return store.Entry{Meta: full}
}

// entries turns a page of rows into Scan entries, decoding the rows the
// cache does not describe with up to one worker per CPU.
func (s *Sessions) entries(ctx context.Context, page []Row, gen uint32) ([]store.Entry, error) {
	out := make([]store.Entry, len(page))
	workers := min(runtime.NumCPU(), len(page))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(page) || ctx.Err() != nil {
					return
				}
				out[i] = s.entry(page[i], gen)
			}
		})
	}
	wg.Wait()
	return out, ctx.Err()
}

// Scan calls fn for every row in key order, expired, undecodable and
// wrongly keyed ones included (Entry.Err), streaming: the table is read a
// key page at a time (dbstore's Scan), each page decoded in parallel where
// the metadata cache does not already describe its rows, and released
// before the next is read. An error from fn stops the scan.
func (s *Sessions) Scan(ctx context.Context, fn func(store.Entry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	gen := s.gen.Add(1)
	err := s.db.scanBatches(ctx, ScanOptions{}, "", nil, func(page []Row) error {
		entries, err := s.entries(ctx, page, gen)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && s.gen.Load() == gen {
		s.cache.sweep(gen) // a complete scan, and no other one started meanwhile
	}
	return err
}

// ScanUser is Scan restricted to the decodable sessions whose
// _auth_user_id is userID. On a table with an indexed user_id column
// (django-user-sessions, django-qsessions) only the rows the index gives
// are read, and each is still checked against its session data; otherwise
// every row is (from the metadata cache when unchanged).
func (s *Sessions) ScanUser(ctx context.Context, userID string, fn func(store.Entry) error) error {
	mine := func(e store.Entry) error {
		if e.Err != nil || e.UserID != userID {
			return nil
		}
		return fn(e)
	}
	if !s.db.schema.UserIndex {
		return s.Scan(ctx, mine)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	where, arg, ok := s.db.userWhere(userID)
	if !ok {
		return nil // an integer column holds no such user
	}
	return s.db.scanBatches(ctx, ScanOptions{}, where, arg, func(page []Row) error {
		entries, err := s.entries(ctx, page, 0)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := mine(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// Stats counts the rows in one scan (store.CountStats); a database keeps
// no temp files.
func (s *Sessions) Stats(ctx context.Context, seen func(store.Entry)) (store.Stats, error) {
	return store.CountStats(ctx, s, s.cfg.Now(), seen)
}
