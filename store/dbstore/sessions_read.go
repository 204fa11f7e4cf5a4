package dbstore

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sessionfs/sessionfs/store"
)

// Stat returns key's Meta (also of a row under a key that is not
// Django's shape, named by its DisplayKey, with an error wrapping
// store.ErrInvalidKey): the row is read, and decoded only when the
// metadata cache has nothing for its Version. A row that does not decode
// is an error wrapping the codec's, with the row's Meta.
func (s *Sessions) Stat(ctx context.Context, key string) (store.Meta, error) {
	r, err := s.row(ctx, key)
	if errors.Is(err, store.ErrInvalidKey) {
		r, err = s.invalidRow(ctx, key, err)
	}
	if err != nil {
		return store.Meta{Key: key}, err
	}
	e := s.entry(r)
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

// ReadRaw returns key's session_data (key may be a DisplayKey, as for
// Stat) and the row's Version; a row over the
// size bound is store.ErrTooLarge.
func (s *Sessions) ReadRaw(ctx context.Context, key string) ([]byte, store.Version, error) {
	r, err := s.row(ctx, key)
	if errors.Is(err, store.ErrInvalidKey) {
		r, err = s.invalidRow(ctx, key, err)
	}
	if err != nil {
		return nil, store.Version{}, err
	}
	if err := s.checkStoredSize(r); err != nil {
		return nil, store.Version{}, err
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
// Version, else decoded (and cached). Rows under keys that are not
// Django's shape are never cached: they are rare, and cheap to judge.
func (s *Sessions) entry(r Row) store.Entry {
	e, d, ok := s.lookupOrDecode(r, 0)
	if ok {
		s.cache.put(d.meta, d.err, s.gen.Load())
	}
	return e
}

// lookupOrDecode is a row's entry from the cache (marked seen by Scan
// generation gen unless 0) or from decoding it; ok reports a decode the
// cache should remember, d.
func (s *Sessions) lookupOrDecode(r Row, gen uint32) (e store.Entry, d decoded, ok bool) {
	meta := s.rowMeta(r)
	if err, hit := s.cache.lookup(&meta, gen); hit {
		return store.Entry{Meta: meta, Err: err}, decoded{}, false
	}
	_, full, err := s.decodeRowMeta(r, meta)
	return store.Entry{Meta: full, Err: err}, decoded{full, err}, s.db.CheckKey(r.Key) == nil
}

// entries turns a page of rows into Scan entries, decoding the rows the
// cache does not describe with up to one worker per CPU, and caching what
// they found in one step.
func (s *Sessions) entries(ctx context.Context, page []Row, gen uint32) ([]store.Entry, error) {
	out := make([]store.Entry, len(page))
	found := make([]decoded, len(page))
	fresh := make([]bool, len(page))
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
				out[i], found[i], fresh[i] = s.lookupOrDecode(page[i], gen)
			}
		})
	}
	wg.Wait()
	batch := found[:0]
	for i, d := range found {
		if fresh[i] {
			batch = append(batch, d)
		}
	}
	s.cache.putAll(batch, max(gen, s.gen.Load()))
	return out, ctx.Err()
}

// Scan calls fn for every row in key order, expired, undecodable and
// wrongly keyed ones included (Entry.Err), streaming: the table is read a
// key page at a time (dbstore's Scan), the next page while this one is
// decoded (in parallel, where the metadata cache does not already
// describe its rows) and handed to fn; at most two pages are held. An
// error from fn stops the scan.
func (s *Sessions) Scan(ctx context.Context, fn func(store.Entry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	gen := s.gen.Add(1)
	err := s.pipelined(ctx, "", nil, func(page []Row) error {
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
	return s.pipelined(ctx, where, arg, func(page []Row) error {
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

// pipelined pages through the table (with where, the rows of ScanUser's
// index lookup) and calls fn with each page while the next is read, so
// that the database's round trip and the decoding overlap. The reader is
// one page ahead at most.
func (s *Sessions) pipelined(ctx context.Context, where string, arg any, fn func([]Row) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan []Row)
	done := make(chan error, 1)
	go func() {
		defer close(pages)
		done <- s.db.scanBatches(ctx, ScanOptions{}, where, arg, func(page []Row) error {
			select {
			case pages <- page:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var fnErr error
	for page := range pages {
		if fnErr == nil {
			if fnErr = fn(page); fnErr != nil {
				cancel() // the reader stops; the pages in flight are dropped
			}
		}
	}
	if err := <-done; fnErr == nil {
		return err
	}
	return fnErr
}
