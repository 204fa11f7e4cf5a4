package cachestore

import (
	"context"
	"errors"
	"runtime"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/internal/parallel"
)

// get reads key's value. Besides the client's errors, a value it could
// not read is returned with its Item and the error of Entry.Err.
func (s *Store) get(ctx context.Context, key string) (Item, error) {
	it, err := s.c.Get(ctx, key)
	if err != nil && it.Err != nil {
		return it, itemError(it)
	}
	return it, err
}

// Stat returns key's Meta. The value is read (the version of a Redis value
// is its hash), but an unchanged one is not decoded again.
func (s *Store) Stat(ctx context.Context, key string) (store.Meta, error) {
	it, err := s.get(ctx, key)
	now := s.cfg.Now()
	switch {
	case it.Err != nil:
		e := s.entry(it, facts{err: err}, now)
		return e.Meta, err
	case err != nil:
		return store.Meta{Key: key}, err
	}
	f, ok := s.meta.get(key, it.Version, 0)
	if !ok {
		_, f = s.decode(it)
		s.meta.put(key, it.Version, f, 0)
	}
	e := s.entry(it, f, now)
	return e.Meta, e.Err
}

// Load reads and decodes key's session. A value that does not decode is an
// error wrapping the codec's (codec.ErrForeignObject for a class outside
// the allow-list, codec.ErrNotObject for a value that is not a dict).
func (s *Store) Load(ctx context.Context, key string) (*store.Session, error) {
	it, err := s.get(ctx, key)
	if err != nil {
		return nil, err
	}
	js, f := s.decode(it)
	s.meta.put(key, it.Version, f, 0)
	if f.err != nil {
		return nil, f.err
	}
	e := s.entry(it, f, s.cfg.Now())
	return &store.Session{Meta: e.Meta, JSON: js}, nil
}

// ReadRaw returns the value stored for key (as the cache client stored it:
// a pickle, perhaps compressed) and its Version.
func (s *Store) ReadRaw(ctx context.Context, key string) ([]byte, store.Version, error) {
	it, err := s.get(ctx, key)
	if err != nil {
		return nil, store.Version{}, err
	}
	if it.Value == nil {
		it.Value = []byte{}
	}
	return it.Value, store.Version(it.Version), nil
}

// Scan batching: a batch is decoded in parallel before its entries are
// handed out in listing order.
const (
	scanBatchItems = 512
	scanBatchBytes = 8 << 20
)

// Scan calls fn for every session value under the key prefix, streaming
// (the client's SCAN, or a Memcached's metadump; ErrUnsupported for a
// Memcached without one). Values unchanged since they were last decoded
// come from the metadata cache; the others are decoded in parallel, a
// batch at a time. A value that does not decode, is over the size bound or
// is a Redis key of another type is an Entry with Err set. An error
// returned by fn stops the scan and is returned.
func (s *Store) Scan(ctx context.Context, fn func(store.Entry) error) error {
	gen := s.meta.startScan()
	batch := make([]Item, 0, scanBatchItems)
	var bytes int
	flush := func() error {
		entries := s.entries(ctx, batch, gen)
		clear(batch)
		batch, bytes = batch[:0], 0
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	err := s.c.Scan(ctx, func(it Item) error {
		batch = append(batch, it)
		bytes += len(it.Value)
		if len(batch) >= scanBatchItems || bytes >= scanBatchBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	s.meta.sweep(gen)
	return nil
}

// entries turns a batch of items into Scan entries, decoding what the
// metadata cache does not know with one worker per CPU.
func (s *Store) entries(ctx context.Context, batch []Item, gen uint32) []store.Entry {
	now := s.cfg.Now()
	out := make([]store.Entry, len(batch))
	var todo []int
	for i, it := range batch {
		if it.Err != nil {
			out[i] = s.entry(it, facts{err: itemError(it)}, now)
			continue
		}
		if f, ok := s.meta.get(it.Key, it.Version, gen); ok {
			out[i] = s.entry(it, f, now)
			continue
		}
		todo = append(todo, i)
	}
	parallel.For(ctx, len(todo), min(runtime.NumCPU(), (len(todo)+15)/16), func(n int) {
		it := batch[todo[n]]
		_, f := s.decode(it)
		s.meta.put(it.Key, it.Version, f, gen)
		out[todo[n]] = s.entry(it, f, now)
	})
	return out
}

// ScanUser is Scan restricted to the decodable sessions of userID: the
// user id is inside each pickled value, so every value is listed (decoded
// only when changed since the last listing).
func (s *Store) ScanUser(ctx context.Context, userID string, fn func(store.Entry) error) error {
	return s.Scan(ctx, func(e store.Entry) error {
		if e.Err != nil || e.UserID != userID {
			return nil
		}
		return fn(e)
	})
}

// isGone reports an error saying the key holds nothing (any more).
func isGone(err error) bool { return errors.Is(err, store.ErrNotFound) }
