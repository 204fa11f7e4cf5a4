package cacheddb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/cachestore"
)

// Problems of a cache copy, as Divergent reports them.
const (
	CopyDiffers = "cache-differs" // its session is not the row's: Django serves the copy's
	CopyOnly    = "cache-only"    // its row is gone or expired: Django still serves the copy
	CopyInvalid = "cache-invalid" // it does not decode (or is over the size bound)
)

// Divergence is a cache copy Django serves instead of what its row holds.
type Divergence struct {
	Key     string
	Problem string      // CopyDiffers, CopyOnly or CopyInvalid
	Copy    store.Entry // the copy, as decoded (Err set for CopyInvalid)
	Expiry  time.Time   // when the copy's TTL ends: until then Django serves it
}

// Divergent calls fn for every cache copy that Django would serve instead
// of its row, reading each listed copy's row (one read a copy: the copies
// are the sessions in use recently). A copy equal to its row as a session
// (member order aside, a tuple equal to the row's list: the row's JSON
// serializer writes tuples as lists) is not reported. It lists the copies
// through the cache client: a Memcached without metadump is
// cachestore.ErrUnsupported. An error from fn stops it.
func (s *Store) Divergent(ctx context.Context, fn func(Divergence) error) error {
	now := time.Now()
	return s.cache.Scan(ctx, func(it cachestore.Item) error {
		d, ok, err := s.diverges(ctx, it, now)
		if err != nil || !ok {
			return err
		}
		return fn(d)
	})
}

// diverges judges one cache copy against its row.
func (s *Store) diverges(ctx context.Context, it cachestore.Item, now time.Time) (Divergence, bool, error) {
	e, copyJSON := s.copyEntry(it)
	d := Divergence{Key: it.Key, Copy: e, Expiry: it.Expiry}
	row, err := s.rows.Load(ctx, it.Key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		d.Problem = CopyOnly
		return d, true, nil
	case err != nil && !store.Undecodable(err):
		return d, false, fmt.Errorf("comparing the cache copy of %s with its row: %w", it.Key, err)
	case err == nil && s.rows.Expired(store.Entry{Meta: row.Meta}, now):
		d.Problem = CopyOnly
		return d, true, nil
	case e.Err != nil:
		d.Problem = CopyInvalid
		return d, true, nil
	case err != nil || !sameSession(copyJSON, row.JSON):
		d.Problem = CopyDiffers // an undecodable row: Django serves the copy, not what the row holds
		return d, true, nil
	}
	return d, false, nil
}

// sameSession compares two session JSON texts as Python values a JSON
// round trip keeps equal: member order aside, a $tuple as the list the
// JSON serializer makes of it, numbers by their text.
func sameSession(a, b []byte) bool {
	va, err1 := untuple(a)
	vb, err2 := untuple(b)
	return err1 == nil && err2 == nil && reflect.DeepEqual(va, vb)
}

func untuple(js []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			if t, ok := v["$tuple"]; ok && len(v) == 1 {
				return walk(t)
			}
			for k, x := range v {
				v[k] = walk(x)
			}
		case []any:
			for i, x := range v {
				v[i] = walk(x)
			}
		}
		return v
	}
	return walk(v), nil
}

// Stats are the rows' figures, with CacheDiffers counted by Divergent. A
// cache that cannot list (a Memcached without metadump) leaves
// CacheDiffers nil: unknown, not zero.
func (s *Store) Stats(ctx context.Context, seen func(store.Entry)) (store.Stats, error) {
	st, err := s.rows.Stats(ctx, seen)
	if err != nil {
		return st, err
	}
	n := 0
	err = s.Divergent(ctx, func(Divergence) error { n++; return nil })
	switch {
	case errors.Is(err, cachestore.ErrUnsupported):
		return st, nil
	case err != nil:
		return st, fmt.Errorf("computing stats: cache copies: %w", err)
	}
	st.CacheDiffers = &n
	return st, nil
}
