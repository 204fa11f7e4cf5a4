package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// Store is a store.Store whose session operations are counted and timed,
// method by method, under the operation names of the README: load, stat,
// save, delete, touch, rename, scan. A name that is not a session
// (store.ErrNotFound) is an answer, not an error. Expired and Describe
// answer from memory and are not recorded; ClearExpired is the CLI's gc,
// never the mount's.
type Store struct {
	st store.Store
	m  *Metrics
}

var _ store.Store = (*Store)(nil)

// InstrumentStore wraps st so that its operations are recorded in m.
func InstrumentStore(st store.Store, m *Metrics) *Store { return &Store{st: st, m: m} }

func (s *Store) observe(op string, start time.Time, err error) {
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	s.m.Observe(op, start, err)
}

func (s *Store) Stat(ctx context.Context, key string) (store.Meta, error) {
	start := time.Now()
	meta, err := s.st.Stat(ctx, key)
	s.observe("stat", start, err)
	return meta, err
}

func (s *Store) Load(ctx context.Context, key string) (*store.Session, error) {
	start := time.Now()
	sess, err := s.st.Load(ctx, key)
	s.observe("load", start, err)
	return sess, err
}

// ReadRaw is a load of the stored bytes (an .invalid file's content).
func (s *Store) ReadRaw(ctx context.Context, key string) ([]byte, store.Version, error) {
	start := time.Now()
	raw, v, err := s.st.ReadRaw(ctx, key)
	s.observe("load", start, err)
	return raw, v, err
}

func (s *Store) Scan(ctx context.Context, fn func(store.Entry) error) error {
	start := time.Now()
	err := s.st.Scan(ctx, fn)
	s.observe("scan", start, err)
	return err
}

func (s *Store) ScanUser(ctx context.Context, userID string, fn func(store.Entry) error) error {
	start := time.Now()
	err := s.st.ScanUser(ctx, userID, fn)
	s.observe("scan", start, err)
	return err
}

func (s *Store) Expired(e store.Entry, now time.Time) bool { return s.st.Expired(e, now) }

func (s *Store) Save(ctx context.Context, key string, sessionJSON []byte, opt store.SaveOptions) (store.Saved, error) {
	start := time.Now()
	saved, err := s.st.Save(ctx, key, sessionJSON, opt)
	s.observe("save", start, err)
	return saved, err
}

func (s *Store) RemoveIf(ctx context.Context, key string, dryRun bool, match func(store.Entry) bool) (store.Removal, error) {
	start := time.Now()
	r, err := s.st.RemoveIf(ctx, key, dryRun, match)
	s.observe("delete", start, err)
	return r, err
}

func (s *Store) Renew(ctx context.Context, key string, at time.Time, ifMatch store.Version) (store.Saved, error) {
	start := time.Now()
	saved, err := s.st.Renew(ctx, key, at, ifMatch)
	s.observe("touch", start, err)
	return saved, err
}

func (s *Store) Rename(ctx context.Context, from, to string) (store.Saved, error) {
	start := time.Now()
	saved, err := s.st.Rename(ctx, from, to)
	s.observe("rename", start, err)
	return saved, err
}

func (s *Store) ClearExpired(ctx context.Context, opt store.ClearOptions, seen func(store.Entry)) (store.ClearResult, error) {
	return s.st.ClearExpired(ctx, opt, seen)
}

// Stats is one scan of the store.
func (s *Store) Stats(ctx context.Context, seen func(store.Entry)) (store.Stats, error) {
	start := time.Now()
	st, err := s.st.Stats(ctx, seen)
	s.observe("scan", start, err)
	return st, err
}

func (s *Store) Describe() store.Description { return s.st.Describe() }

// Close closes the wrapped store.
func (s *Store) Close() error { return s.st.Close() }
