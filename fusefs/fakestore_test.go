package fusefs

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// fakeStore is an in-memory store.Store for unit tests of the FUSE layer.
// It implements the whole contract, so the mount's code paths are the
// binary's; the promises about real files are proven over the file backend
// (opsFixture) and in integration/. What it stores ("raw") is the session's
// compact JSON; its sessions never expire (tests give them old mtimes).
type fakeStore struct {
	mu       sync.Mutex
	sessions map[string]fakeSession
	nextIno  uint64
	saves    int          // successful Save calls
	stats    atomic.Int64 // Stat calls

	saveDelay time.Duration // each Save takes this long, then honours ctx as the file backend does
}

type fakeSession struct {
	json  []byte // compact
	mtime time.Time
	ino   uint64 // new at every write: with mtime and size, the Version
}

func newFakeStore() *fakeStore { return &fakeStore{sessions: map[string]fakeSession{}} }

var _ store.Store = (*fakeStore)(nil)

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

func (ss fakeSession) version() store.Version {
	var v store.Version
	binary.LittleEndian.PutUint64(v[0:], ss.ino)
	binary.LittleEndian.PutUint64(v[8:], uint64(len(ss.json)))
	binary.LittleEndian.PutUint64(v[16:], uint64(ss.mtime.UnixNano()))
	return v
}

func (s *fakeStore) meta(key string, ss fakeSession) store.Meta {
	doc, _ := fakeRender(ss.json)
	return store.Meta{
		Key: key, Version: ss.version(), RawSize: int64(len(ss.json)), ModTime: ss.mtime, Size: int64(len(doc)),
		UserID: store.UserIDOf(ss.json),
	}
}

func (s *fakeStore) session(key string, ss fakeSession) store.Session {
	return store.Session{Meta: s.meta(key, ss), JSON: append([]byte(nil), ss.json...)}
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
	sess := s.session(key, ss)
	return &sess, nil
}

func (s *fakeStore) Stat(ctx context.Context, key string) (store.Meta, error) {
	s.stats.Add(1)
	sess, err := s.Load(ctx, key)
	if err != nil {
		return store.Meta{Key: key}, err
	}
	return sess.Meta, nil
}

func (s *fakeStore) ReadRaw(ctx context.Context, key string) ([]byte, store.Version, error) {
	sess, err := s.Load(ctx, key)
	if err != nil {
		return nil, store.Version{}, err
	}
	return sess.JSON, sess.Version, nil
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

func (s *fakeStore) ScanUser(ctx context.Context, userID string, fn func(store.Entry) error) error {
	return s.Scan(ctx, func(e store.Entry) error {
		if e.UserID != userID {
			return nil
		}
		return fn(e)
	})
}

func (s *fakeStore) Expired(e store.Entry, now time.Time) bool {
	return e.Err == nil && e.Expired(now)
}

func (s *fakeStore) Save(ctx context.Context, key string, js []byte, opt store.SaveOptions) (store.Saved, error) {
	if err := s.check(key); err != nil {
		return store.Saved{}, err
	}
	if s.saveDelay > 0 {
		time.Sleep(s.saveDelay)
	}
	if err := ctx.Err(); err != nil {
		return store.Saved{}, err
	}
	trimmed := bytes.TrimSpace(js)
	if !utf8.Valid(js) || !json.Valid(trimmed) || len(trimmed) == 0 || trimmed[0] != '{' {
		return store.Saved{}, fmt.Errorf("%w: not a JSON object", codec.ErrInvalidSession)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, trimmed); err != nil {
		return store.Saved{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := s.sessions[key]
	switch {
	case opt.MustCreate && exists:
		return store.Saved{}, store.ErrExists
	case !opt.IfMatch.IsZero() && (!exists || old.version() != opt.IfMatch):
		return store.Saved{}, store.ErrConflict
	}
	mt := time.Now()
	if opt.KeepExpiry && exists {
		mt = old.mtime
	}
	s.nextIno++
	ss := fakeSession{json: compact.Bytes(), mtime: mt, ino: s.nextIno}
	saved := store.Saved{Session: s.session(key, ss), Raw: ss.json, Created: !exists}
	if opt.DryRun {
		saved.Version = store.Version{}
		return saved, nil
	}
	if opt.ReportBefore && exists {
		saved.Before, saved.BeforeJSON = old.json, old.json
	}
	s.sessions[key] = ss
	s.saves++
	return saved, nil
}

func (s *fakeStore) RemoveIf(ctx context.Context, key string, dryRun bool, match func(store.Entry) bool) (store.Removal, error) {
	if err := s.check(key); err != nil {
		return store.Removal{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[key]
	if !ok {
		return store.Removal{Entry: store.Entry{Meta: store.Meta{Key: key}}}, nil
	}
	r := store.Removal{Entry: store.Entry{Meta: s.meta(key, ss)}}
	if !match(r.Entry) {
		return r, nil
	}
	r.Removed, r.Raw, r.JSON = true, ss.json, ss.json
	if !dryRun {
		delete(s.sessions, key)
	}
	return r, nil
}

func (s *fakeStore) Renew(ctx context.Context, key string, at time.Time, ifMatch store.Version) (store.Saved, error) {
	if err := s.check(key); err != nil {
		return store.Saved{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[key]
	if !ok {
		return store.Saved{}, store.ErrNotFound
	}
	if !ifMatch.IsZero() && ss.version() != ifMatch {
		return store.Saved{}, store.ErrConflict
	}
	ss.mtime = at
	s.sessions[key] = ss
	return store.Saved{Session: s.session(key, ss), Raw: ss.json, Before: ss.json}, nil
}

func (s *fakeStore) Rename(ctx context.Context, from, to string) (store.Saved, error) {
	if err := s.check(from); err != nil {
		return store.Saved{}, err
	}
	if err := s.check(to); err != nil {
		return store.Saved{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[from]
	if !ok {
		return store.Saved{}, store.ErrNotFound
	}
	if _, taken := s.sessions[to]; taken {
		return store.Saved{}, store.ErrExists
	}
	s.sessions[to] = ss
	delete(s.sessions, from)
	return store.Saved{Session: s.session(to, ss), Raw: ss.json, Created: true}, nil
}

func (s *fakeStore) ClearExpired(ctx context.Context, opt store.ClearOptions, seen func(store.Entry)) (store.ClearResult, error) {
	var res store.ClearResult
	now := time.Now()
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
		r, err := s.RemoveIf(ctx, e.Key, false, func(cur store.Entry) bool { return s.Expired(cur, now) })
		if err == nil && r.Removed {
			res.Removed = append(res.Removed, e.Key)
			if opt.Removed != nil {
				opt.Removed(r)
			}
		}
		return err
	})
	return res, err
}

func (s *fakeStore) Stats(ctx context.Context, seen func(store.Entry)) (store.Stats, error) {
	return store.CountStats(ctx, s, time.Now(), seen)
}

func (s *fakeStore) Close() error { return nil }

func (s *fakeStore) Describe() store.Description {
	return store.Description{Backend: "fake", Location: "memory", Signed: false}
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
