package fusefs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// fakeStore is an in-memory store.Store for unit tests of the FUSE layer:
// the promises about real files are proven in integration/ with FileStore.
type fakeStore struct {
	mu       sync.Mutex
	sessions map[string]fakeSession
	nextIno  uint64
	saves    int // successful Save calls

	saveDelay time.Duration // each Save takes this long, then honours ctx as FileStore does
}

type fakeSession struct {
	json  []byte // compact
	mtime time.Time
	ino   uint64
}

func newFakeStore() *fakeStore { return &fakeStore{sessions: map[string]fakeSession{}} }

var fakeKeyRE = regexp.MustCompile(`^[a-z0-9]{8,}$`)

// fakeRender stands in for codec.Pretty: 2-space indent and a newline.
func fakeRender(js []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Indent(&b, js, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func (s *fakeStore) check(key string) error {
	if !fakeKeyRE.MatchString(key) {
		return fmt.Errorf("%w: %q", store.ErrInvalidKey, key)
	}
	return nil
}

func (s *fakeStore) meta(key string, ss fakeSession) store.Meta {
	doc, _ := fakeRender(ss.json)
	return store.Meta{Key: key, ID: store.FileID{Ino: ss.ino, Size: int64(len(ss.json)), ModTime: ss.mtime}, Size: int64(len(doc))}
}

func (s *fakeStore) Load(ctx context.Context, key string) (*store.Session, error) {
	if err := s.check(key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[key]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &store.Session{Meta: s.meta(key, ss), JSON: append([]byte(nil), ss.json...)}, nil
}

func (s *fakeStore) Stat(ctx context.Context, key string) (store.Meta, error) {
	sess, err := s.Load(ctx, key)
	if err != nil {
		return store.Meta{}, err
	}
	return sess.Meta, nil
}

func (s *fakeStore) Save(ctx context.Context, key string, js []byte, opt store.SaveOptions) (store.Meta, error) {
	if err := s.check(key); err != nil {
		return store.Meta{}, err
	}
	if s.saveDelay > 0 {
		time.Sleep(s.saveDelay)
	}
	if err := ctx.Err(); err != nil {
		return store.Meta{}, err
	}
	trimmed := bytes.TrimSpace(js)
	if !utf8.Valid(js) || !json.Valid(trimmed) || len(trimmed) == 0 || trimmed[0] != '{' {
		return store.Meta{}, fmt.Errorf("%w: not a JSON object", codec.ErrInvalidSession)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, trimmed); err != nil {
		return store.Meta{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := s.sessions[key]
	if opt.MustCreate && exists {
		return store.Meta{}, store.ErrExists
	}
	if !opt.MustCreate && !exists {
		return store.Meta{}, store.ErrNotFound
	}
	_ = old
	mt := opt.ModTime
	if mt.IsZero() {
		mt = time.Now()
	}
	s.nextIno++
	ss := fakeSession{json: compact.Bytes(), mtime: mt, ino: s.nextIno}
	s.sessions[key] = ss
	s.saves++
	return s.meta(key, ss), nil
}

func (s *fakeStore) Delete(ctx context.Context, key string) error {
	if err := s.check(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[key]; !ok {
		return store.ErrNotFound
	}
	delete(s.sessions, key)
	return nil
}

func (s *fakeStore) Exists(ctx context.Context, key string) (bool, error) {
	if err := s.check(key); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[key]
	return ok, nil
}

func (s *fakeStore) Touch(ctx context.Context, key string, mtime time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[key]
	if !ok {
		return store.ErrNotFound
	}
	ss.mtime = mtime
	s.sessions[key] = ss
	return nil
}

func (s *fakeStore) Rename(ctx context.Context, from, to string) error {
	if err := s.check(to); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[from]
	if !ok {
		return store.ErrNotFound
	}
	if _, taken := s.sessions[to]; taken {
		return store.ErrExists
	}
	s.sessions[to] = ss
	delete(s.sessions, from)
	return nil
}

func (s *fakeStore) Scan(ctx context.Context, fn func(store.Entry) error) error {
	s.mu.Lock()
	var entries []store.Entry
	for key, ss := range s.sessions {
		entries = append(entries, store.Entry{Meta: s.meta(key, ss)})
	}
	s.mu.Unlock()
	for _, e := range entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeStore) Expiry(ctx context.Context, key string) (time.Time, error) {
	return time.Time{}, nil
}

func (s *fakeStore) ClearExpired(ctx context.Context, dryRun bool) (store.ClearResult, error) {
	return store.ClearResult{}, nil
}

// get returns the stored compact JSON of key, or "" if absent.
func (s *fakeStore) get(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.sessions[key].json)
}

func (s *fakeStore) put(key, js string, mtime time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextIno++
	s.sessions[key] = fakeSession{json: []byte(js), mtime: mtime, ino: s.nextIno}
}
