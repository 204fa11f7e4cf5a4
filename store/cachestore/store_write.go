package cachestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// writeAttempts bounds how often a write that has no version to match
// (a plain save, a removal) reads again a session Django rewrote between
// the read and the write.
const writeAttempts = 5

// encoded is a session as Save writes it.
type encoded struct {
	value []byte
	flags uint32
	json  []byte // canonical session JSON, decoded from value
	facts facts
}

// encode encodes sessionJSON with the site's client format and checks it:
// only the codec's restricted pickle writer makes the bytes, and they must
// fit what a read accepts.
func (s *Store) encode(key string, sessionJSON []byte) (encoded, error) {
	value, flags, err := s.codec.Encode(sessionJSON)
	if err != nil {
		return encoded{}, fmt.Errorf("session %s: encoding: %w", key, err)
	}
	if limit := s.c.MaxValueSize(); int64(len(value)) > limit {
		return encoded{}, fmt.Errorf("session %s: %w: the encoded session is %d bytes, over the %d-byte limit of a cache value",
			key, store.ErrTooLarge, len(value), limit)
	}
	// Decoding what was just encoded gives the canonical JSON the Meta is
	// computed from.
	js, info, err := s.codec.Decode(value, flags)
	if err != nil {
		return encoded{}, fmt.Errorf("session %s: encoded session does not decode: %w", key, err)
	}
	f, err := s.factsOf(key, js, info)
	if err != nil {
		return encoded{}, err
	}
	return encoded{value: value, flags: flags, json: js, facts: f}, nil
}

// expiredAtOnce is the error of a new session Django would never store.
func expiredAtOnce(key string, age time.Duration) error {
	return fmt.Errorf("session %s: %w: its _session_expiry gives an expiry age of %v, and Django never stores a session "+
		"whose age is not positive (the cache backend deletes it instead)", key, codec.ErrInvalidSession, age)
}

// Save encodes sessionJSON as the site's cache client pickles the session
// dict and stores it as Django's save does:
//
//   - MustCreate: an add (SET NX, Memcached's add): ErrExists if the key is
//     taken;
//   - IfMatch: a compare-and-set of that version: ErrConflict if the value
//     changed; if it is gone (deleted, or its TTL ended), an error that is
//     both ErrConflict and ErrNotFound;
//   - neither: a set, creating or replacing, as Django's save does; a
//     replacement is still a compare-and-set of the value just read, so
//     Saved.Before is exactly what it replaced.
//
// The TTL is Django's get_expiry_age() at the save (store.ExpiryAge). With
// KeepExpiry an edit keeps the key's remaining TTL unless it changes
// _session_expiry. An edit whose new TTL would not be positive deletes the
// session, as Django does (Saved then has no Version and no Raw, and
// Meta.Expiry is store.AlwaysExpired); a new session that would be expired
// at once is refused (codec.ErrInvalidSession). Only values the codec's
// restricted writer builds from JSON and the allow-listed tagged forms are
// written: anything else (an opaque $object...) is refused with
// codec.ErrUnsupportedValue, and the stored bytes stay as they are. An
// encoded value over the client's MaxValueSize is ErrTooLarge. Saved is
// filled from what was written and what the compare-and-set compared,
// never read back.
func (s *Store) Save(ctx context.Context, key string, sessionJSON []byte, opt store.SaveOptions) (store.Saved, error) {
	if _, err := s.c.Keys().CacheKey(key); err != nil {
		return store.Saved{}, err
	}
	if opt.Encode != nil {
		return store.Saved{}, fmt.Errorf("session %s: %w: the cache backend stores the session dict as the cache client pickles it, "+
			"in no format or serializer of its own", key, codec.ErrUnsupportedValue)
	}
	enc, err := s.encode(key, sessionJSON)
	if err != nil {
		return store.Saved{}, err
	}
	now := s.cfg.Now()
	age, err := expiryAge(enc.json, now, s.cfg.CookieAge)
	if err != nil {
		return store.Saved{}, fmt.Errorf("session %s: %w", key, err)
	}
	ttl := s.ttl(age)
	if opt.DryRun {
		m := enc.facts.meta(Item{Key: key, Size: int64(len(enc.value))}, now.Add(ttl), now)
		return store.Saved{Session: store.Session{Meta: m, JSON: enc.json}, Raw: enc.value}, nil
	}
	if opt.MustCreate {
		return s.create(ctx, key, enc, ttl)
	}
	for range writeAttempts {
		saved, retry, err := s.replace(ctx, key, enc, ttl, opt, now)
		if !retry {
			return saved, err
		}
	}
	return store.Saved{}, fmt.Errorf("session %s: %w (rewritten %d times while saving it)", key, store.ErrConflict, writeAttempts)
}

// create adds a new session.
func (s *Store) create(ctx context.Context, key string, enc encoded, ttl time.Duration) (store.Saved, error) {
	if ttl <= 0 {
		return store.Saved{}, expiredAtOnce(key, ttl)
	}
	now := s.cfg.Now()
	it, err := s.c.Add(ctx, key, enc.value, enc.flags, ttl)
	if err != nil {
		return store.Saved{}, err
	}
	return s.stored(it, enc, true, now.Add(ttl)), nil
}

// stored is the Saved of a value written with the given expiry.
func (s *Store) stored(it Item, enc encoded, created bool, expiry time.Time) store.Saved {
	s.meta.put(it.Key, it.Version, enc.facts, 0)
	s.meta.setExpiry(it.Key, it.Version, expiry)
	it.Size = int64(len(enc.value))
	e := s.entry(it, enc.facts, s.cfg.Now())
	return store.Saved{Session: store.Session{Meta: e.Meta, JSON: enc.json}, Raw: enc.value, Created: created}
}

// goneSince is the error of a guarded change whose session is gone since
// it was read (deleted, or its TTL ended): the contract's conflict, and
// nothing found, since nothing is left to change.
func goneSince(key string) error {
	return fmt.Errorf("session %s: %w: %w (deleted, or its TTL ended)", key, store.ErrConflict, store.ErrNotFound)
}

// guarded maps the error of a write conditional on a version the caller
// gave: a session gone since is goneSince.
func guarded(key string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return goneSince(key)
	}
	return err
}

// replace is one attempt of a save that is not a must-create: read, then
// add or compare-and-set. retry says the session changed in between and
// a save without IfMatch should try again.
func (s *Store) replace(ctx context.Context, key string, enc encoded, ttl time.Duration, opt store.SaveOptions, now time.Time) (saved store.Saved, retry bool, err error) {
	cur, err := s.get(ctx, key)
	switch {
	case isGone(err) && !opt.IfMatch.IsZero():
		return store.Saved{}, false, goneSince(key)
	case isGone(err):
		saved, err := s.create(ctx, key, enc, ttl)
		return saved, errors.Is(err, store.ErrExists), err // created meanwhile: replace it instead
	case errors.Is(err, store.ErrTooLarge):
		// Replaced unread, as the file backend replaces a file too large to read.
	case err != nil:
		return store.Saved{}, false, err
	}
	if !opt.IfMatch.IsZero() && store.Version(cur.Version) != opt.IfMatch {
		return store.Saved{}, false, fmt.Errorf("session %s: %w", key, store.ErrConflict)
	}
	var before, beforeJSON []byte
	if cur.Value != nil {
		before = cur.Value
		beforeJSON, _ = s.decode(cur)
	}
	newTTL, expiry := ttl, now.Add(ttl)
	if opt.KeepExpiry && sameMember(beforeJSON, enc.json, "_session_expiry") {
		newTTL, expiry = KeepTTL, s.expiryOf(cur)
	}
	retry = opt.IfMatch.IsZero() // a plain save tries again when Django changed the session meanwhile
	if newTTL != KeepTTL && newTTL <= 0 {
		err := s.c.DeleteIf(ctx, key, cur.Version)
		if err != nil {
			return store.Saved{}, retry && changed(err), guarded(key, err)
		}
		m := enc.facts.meta(Item{Key: key}, store.AlwaysExpired, now)
		saved = store.Saved{Session: store.Session{Meta: m, JSON: enc.json}}
	} else {
		it, err := s.c.CompareAndSet(ctx, key, cur.Version, enc.value, enc.flags, newTTL)
		if err != nil {
			return store.Saved{}, retry && changed(err), guarded(key, err)
		}
		saved = s.stored(it, enc, false, expiry)
	}
	if opt.ReportBefore {
		saved.Before, saved.BeforeJSON = before, beforeJSON
	}
	return saved, false, nil
}

// changed reports an error of a conditional write saying the value is no
// longer the version read.
func changed(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound)
}

// sameMember reports whether two sessions hold the same top-level member
// (both canonical JSON from the codec, so equal values are equal text),
// or both lack it.
func sameMember(a, b []byte, name string) bool {
	ra, oka := codec.Member(a, name)
	rb, okb := codec.Member(b, name)
	return oka == okb && bytes.Equal(ra, rb)
}

// RemoveIf deletes key's session if match accepts what is stored: the
// value is read, judged (a value that does not decode or is over the size
// bound included, with Entry.Err) and deleted only while it is still that
// version, so a session Django rewrote meanwhile is judged again (up to
// writeAttempts times, then ErrConflict). A Redis key of another type is
// never removed (ErrNotRegular). Nothing stored is Removal{Removed: false}
// and no error. With dryRun nothing is deleted.
func (s *Store) RemoveIf(ctx context.Context, key string, dryRun bool, match func(store.Entry) bool) (store.Removal, error) {
	if _, err := s.c.Keys().CacheKey(key); err != nil {
		return store.Removal{}, err
	}
	for range writeAttempts {
		it, err := s.get(ctx, key)
		var r store.Removal
		switch {
		case isGone(err):
			return store.Removal{Entry: store.Entry{Meta: store.Meta{Key: key}}}, nil
		case errors.Is(err, store.ErrNotRegular):
			return store.Removal{Entry: s.entry(it, facts{err: err}, s.cfg.Now())}, err
		case errors.Is(err, store.ErrTooLarge):
			r.Entry = s.entry(it, facts{err: err}, s.cfg.Now())
		case err != nil:
			return store.Removal{Entry: store.Entry{Meta: store.Meta{Key: key}, Err: err}}, err
		default:
			js, f := s.decode(it)
			r = store.Removal{Entry: s.entry(it, f, s.cfg.Now()), JSON: js, Raw: it.Value}
		}
		if r.Judge(match, dryRun) {
			return r, nil
		}
		err = s.c.DeleteIf(ctx, key, it.Version)
		switch {
		case err == nil:
			r.Removed = true
			return r, nil
		case !changed(err):
			return r, err
		}
		// Rewritten (or removed) since read: look again.
	}
	return store.Removal{Entry: store.Entry{Meta: store.Meta{Key: key}}},
		fmt.Errorf("session %s: %w (rewritten %d times while removing it)", key, store.ErrConflict, writeAttempts)
}

// Renew sets key's TTL to what a Django save at time at would have set:
// the key then ends at at + get_expiry_age(). The value is unchanged
// (Memcached rewrites the same bytes, so its version changes; Redis's
// does not). With a non-zero ifMatch only while the value is that
// version (ErrConflict; gone, also ErrNotFound); the renewal is
// conditional on the version read in
// any case, so the age is the one of the value renewed. A renewal that
// leaves no time (at + age is past) deletes the session, as Django's save
// would (Saved has no Version and Meta.Expiry is store.AlwaysExpired). A
// value that does not decode is not renewed (its error is returned):
// Memcached would write its bytes back, and its _session_expiry is
// unknown; nor is one over the size bound (ErrTooLarge).
func (s *Store) Renew(ctx context.Context, key string, at time.Time, ifMatch store.Version) (store.Saved, error) {
	cur, err := s.get(ctx, key)
	if isGone(err) && !ifMatch.IsZero() {
		return store.Saved{}, goneSince(key)
	}
	if err != nil {
		return store.Saved{}, err
	}
	if !ifMatch.IsZero() && store.Version(cur.Version) != ifMatch {
		return store.Saved{}, fmt.Errorf("session %s: %w", key, store.ErrConflict)
	}
	js, f := s.decode(cur)
	s.meta.put(key, cur.Version, f, 0)
	if f.err != nil {
		return store.Saved{}, f.err
	}
	age, err := expiryAge(js, at, s.cfg.CookieAge)
	if err != nil {
		return store.Saved{}, fmt.Errorf("session %s: %w", key, err)
	}
	now := s.cfg.Now()
	expiry := at.Add(s.ttl(age))
	ttl := expiry.Sub(now)
	if ttl <= 0 {
		if err := s.c.DeleteIf(ctx, key, cur.Version); err != nil {
			return store.Saved{}, guarded(key, err)
		}
		m := f.meta(Item{Key: key, Size: cur.Size}, store.AlwaysExpired, at)
		m.Version = store.Version{}
		return store.Saved{Session: store.Session{Meta: m, JSON: js}, Before: cur.Value}, nil
	}
	it, err := s.c.SetTTL(ctx, key, cur.Version, ttl)
	if err != nil {
		if ifMatch.IsZero() {
			return store.Saved{}, err
		}
		return store.Saved{}, guarded(key, err)
	}
	cur.Expiry = it.Expiry
	if !it.Version.IsZero() {
		cur.Version = it.Version
	}
	s.meta.put(key, cur.Version, f, 0)
	s.meta.setExpiry(key, cur.Version, expiry)
	e := s.entry(cur, f, now)
	return store.Saved{Session: store.Session{Meta: e.Meta, JSON: js}, Raw: cur.Value, Before: cur.Value}, nil
}

// Rename re-keys a session, its stored bytes unchanged: the value is added
// under to (ErrExists if taken) with the TTL from keeps, then from is
// deleted if it is still the version copied. Both keys hold the session
// for a moment, never neither. If from changed or went away in between
// (Django saved or deleted it), the copy is withdrawn and ErrConflict
// returned. A key without a TTL gets what a Django save now would give it.
// A value that does not decode is not copied (its error is returned): a
// crafted pickle is never written anywhere.
func (s *Store) Rename(ctx context.Context, from, to string) (store.Saved, error) {
	if _, err := s.c.Keys().CacheKey(to); err != nil {
		return store.Saved{}, err
	}
	cur, err := s.get(ctx, from)
	if err != nil {
		return store.Saved{}, err
	}
	js, f := s.decode(cur)
	if f.err != nil {
		return store.Saved{}, f.err
	}
	if from == to {
		e := s.entry(cur, f, s.cfg.Now())
		return store.Saved{Session: store.Session{Meta: e.Meta, JSON: js}, Raw: cur.Value}, nil
	}
	now := s.cfg.Now()
	expiry := s.expiryOf(cur)
	if expiry.IsZero() {
		age, err := expiryAge(js, now, s.cfg.CookieAge)
		if err != nil {
			return store.Saved{}, fmt.Errorf("session %s: %w", from, err)
		}
		expiry = now.Add(s.ttl(age))
	}
	ttl := expiry.Sub(now)
	if ttl <= 0 {
		return store.Saved{}, fmt.Errorf("session %s: %w (its TTL ended)", from, store.ErrNotFound)
	}
	added, err := s.c.Add(ctx, to, cur.Value, cur.Flags, ttl)
	if err != nil {
		return store.Saved{}, err
	}
	if err := s.c.DeleteIf(ctx, from, cur.Version); err != nil {
		if rmErr := s.c.DeleteIf(ctx, to, added.Version); rmErr != nil && !changed(rmErr) {
			err = errors.Join(err, fmt.Errorf("withdrawing the copy %s: %w", to, rmErr))
		}
		if changed(err) {
			err = fmt.Errorf("session %s: %w (renaming to %s)", from, store.ErrConflict, to)
		}
		return store.Saved{}, err
	}
	s.meta.put(to, added.Version, f, 0)
	s.meta.setExpiry(to, added.Version, expiry)
	added.Size = cur.Size
	e := s.entry(added, f, now)
	return store.Saved{Session: store.Session{Meta: e.Meta, JSON: js}, Raw: cur.Value, Created: true}, nil
}
