package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// Store is a FileStore whose session operations are counted and timed. It
// embeds the FileStore, so everything else it offers (Stats, RemoveIf, ...)
// passes through unchanged and callers that look for those methods still
// find them.
type Store struct {
	*store.FileStore
	m *Metrics
}

// InstrumentStore wraps fs so that every Load, Stat, Save, Delete, Touch,
// Rename and Scan is recorded in m. A name that is not a session
// (store.ErrNotFound) is an answer, not an error.
func InstrumentStore(fs *store.FileStore, m *Metrics) *Store { return &Store{FileStore: fs, m: m} }

func (s *Store) observe(op string, start time.Time, err error) {
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	s.m.Observe(op, start, err)
}

func (s *Store) Load(ctx context.Context, key string) (*store.Session, error) {
	start := time.Now()
	sess, err := s.FileStore.Load(ctx, key)
	s.observe("load", start, err)
	return sess, err
}

func (s *Store) Stat(ctx context.Context, key string) (store.Meta, error) {
	start := time.Now()
	meta, err := s.FileStore.Stat(ctx, key)
	s.observe("stat", start, err)
	return meta, err
}

func (s *Store) Save(ctx context.Context, key string, sessionJSON []byte, opt store.SaveOptions) (store.Meta, error) {
	start := time.Now()
	meta, err := s.FileStore.Save(ctx, key, sessionJSON, opt)
	s.observe("save", start, err)
	return meta, err
}

func (s *Store) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := s.FileStore.Delete(ctx, key)
	s.observe("delete", start, err)
	return err
}

func (s *Store) Touch(ctx context.Context, key string, mtime time.Time) error {
	start := time.Now()
	err := s.FileStore.Touch(ctx, key, mtime)
	s.observe("touch", start, err)
	return err
}

func (s *Store) Rename(ctx context.Context, from, to string) error {
	start := time.Now()
	err := s.FileStore.Rename(ctx, from, to)
	s.observe("rename", start, err)
	return err
}

func (s *Store) Scan(ctx context.Context, fn func(store.Entry) error) error {
	start := time.Now()
	err := s.FileStore.Scan(ctx, fn)
	s.observe("scan", start, err)
	return err
}

func (s *Store) RemoveIf(ctx context.Context, key string, dryRun bool, match func(store.Entry) bool) (store.Removal, error) {
	start := time.Now()
	r, err := s.FileStore.RemoveIf(ctx, key, dryRun, match)
	s.observe("delete", start, err)
	return r, err
}
