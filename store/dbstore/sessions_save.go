package dbstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// writeAttempts bounds how often a write that is not conditional on a
// version the caller read (a plain Save, a Renew without ifMatch) reads the
// row again after Django changed it between the read and the guarded
// statement, and how often RemoveIf judges a row again. A logged-in user's
// browser can save the session on every request.
const writeAttempts = 5

// Save encodes sessionJSON and stores it as key's session_data, as Django's
// save does:
//
//   - MustCreate: an INSERT (store.ErrExists when the key is taken, expired
//     or not; ErrCreateRefused on a table whose other columns need values);
//   - otherwise an UPDATE guarded by the row read just before (UpdateIf):
//     with IfMatch, only while the row is still that version (else
//     store.ErrConflict; a row removed since also matches
//     store.ErrNotFound); without it, the row is read again and the
//     update retried when Django saved in between, and a missing row is
//     created (Django 1.10+ would raise UpdateError; sessionfs's put
//     creates or replaces).
//
// expire_date is what Django's get_expiry_date() gives a save now; with
// KeepExpiry the row's own is kept unless the edit changes _session_expiry.
// The encoded size (against Config.MaxSessionSize) and _session_expiry (a
// value Django's save would raise on is codec.ErrInvalidSession) are
// checked before any statement. Saved holds what was written and, with ReportBefore, the row
// the guard matched: nothing is read after writing.
func (s *Sessions) Save(ctx context.Context, key string, sessionJSON []byte, opt store.SaveOptions) (store.Saved, error) {
	if err := s.db.CheckKey(key); err != nil {
		return store.Saved{}, err
	}
	data, err := s.codec.Encode(sessionJSON, opt.Encoding(s.cfg.Encode))
	if err != nil {
		return store.Saved{}, fmt.Errorf("session %s: encoding: %w", key, err)
	}
	if int64(len(data)) > s.cfg.MaxSessionSize {
		return store.Saved{}, fmt.Errorf("session %s: %w: the encoded session is %d bytes, over the %d-byte limit",
			key, store.ErrTooLarge, len(data), s.cfg.MaxSessionSize)
	}
	// Decoding what was just encoded gives the exact Info and the
	// canonical JSON the Meta is computed from.
	decoded, info, err := s.codec.Decode(data)
	if err != nil {
		return store.Saved{}, fmt.Errorf("session %s: encoded session does not decode: %w", key, err)
	}
	// The expire_date a Django save now would write: also what refuses,
	// before any statement, a _session_expiry Django could not save.
	fresh, err := s.expiryDate(key, decoded, s.cfg.Now())
	if err != nil {
		return store.Saved{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.Saved{}, err
	}
	w := write{key: key, data: data, json: decoded, info: info, expire: fresh}
	switch {
	case opt.DryRun:
		meta := store.Meta{Key: key, RawSize: int64(len(data)), Expiry: fresh, ExpiryInstant: true}
		if err := s.fillMeta(&meta, decoded, info); err != nil {
			return store.Saved{}, err
		}
		return store.Saved{Session: store.Session{Meta: meta, JSON: decoded}, Raw: data}, nil
	case opt.MustCreate:
		return s.create(ctx, w)
	}
	for range writeAttempts {
		saved, err := s.update(ctx, w, opt)
		if opt.IfMatch.IsZero() && (errors.Is(err, store.ErrConflict) || errors.Is(err, errRetry)) {
			continue // Django saved or created it meanwhile: replace that
		}
		return saved, err
	}
	return store.Saved{}, fmt.Errorf("session %s: %w (saved by another writer %d times while saving it)", key, store.ErrConflict, writeAttempts)
}

// errRetry: the row appeared between the read and the INSERT.
var errRetry = errors.New("created meanwhile")

// write is one Save's encoded session.
type write struct {
	key    string
	data   []byte
	json   []byte // the canonical JSON data decodes to
	info   codec.Info
	expire time.Time // the expire_date a Django save of it now writes
}

// expiryDate is the expire_date a Django save at now gives sessionJSON.
func (s *Sessions) expiryDate(key string, sessionJSON []byte, now time.Time) (time.Time, error) {
	t, err := store.ExpiryDate(sessionJSON, now, s.cfg.CookieAge, s.naive)
	if err != nil {
		return time.Time{}, fmt.Errorf("session %s: %w", key, err)
	}
	return t, nil
}

// create INSERTs a new row.
func (s *Sessions) create(ctx context.Context, w write) (store.Saved, error) {
	r, err := s.db.Insert(ctx, w.key, string(w.data), w.expire)
	if err != nil {
		return store.Saved{}, err
	}
	return s.saved(r, w, true)
}

// update replaces the row as it is now, if it is opt.IfMatch (when set),
// or creates it when there is none and no IfMatch.
func (s *Sessions) update(ctx context.Context, w write, opt store.SaveOptions) (store.Saved, error) {
	cur, err := s.db.get(ctx, w.key)
	switch {
	case errors.Is(err, store.ErrNotFound) && !opt.IfMatch.IsZero():
		return store.Saved{}, removedSince(w.key)
	case errors.Is(err, store.ErrNotFound):
		saved, err := s.create(ctx, w)
		if errors.Is(err, store.ErrExists) {
			return store.Saved{}, errRetry
		}
		return saved, err
	case err != nil:
		return store.Saved{}, err
	}
	if !opt.IfMatch.IsZero() && versionOf(cur) != opt.IfMatch {
		return store.Saved{}, fmt.Errorf("session %s changed since it was read: %w", w.key, store.ErrConflict)
	}
	var before []byte // the replaced session's JSON, when it decodes
	if opt.ReportBefore || opt.KeepExpiry {
		before, _, _ = s.decodeRow(cur)
	}
	expire := cur.ExpireDate
	if !opt.KeepExpiry || expire.IsZero() || expiryChanged(before, w.json) {
		expire = w.expire
	}
	r, err := s.db.UpdateIf(ctx, w.key, cur.Version, string(w.data), expire)
	if errors.Is(err, store.ErrNotFound) {
		if opt.IfMatch.IsZero() {
			return store.Saved{}, errRetry
		}
		return store.Saved{}, removedSince(w.key)
	}
	if err != nil {
		return store.Saved{}, err
	}
	saved, err := s.saved(r, w, false)
	if err == nil && opt.ReportBefore {
		saved.Before, saved.BeforeJSON = s.rawOf(cur), before
	}
	return saved, err
}

// removedSince is a guarded write's answer for a row removed since it was
// read: a conflict for the contract, and not found for the caller that
// tells them apart (the mount answers ENOENT).
func removedSince(key string) error {
	return fmt.Errorf("session %s was removed since it was read: %w (%w)", key, store.ErrNotFound, store.ErrConflict)
}

// expiryChanged reports whether an edit changes _session_expiry, which
// makes Django compute a new expire_date even for an edit that keeps it.
func expiryChanged(before, after []byte) bool {
	const member = "_session_expiry"
	old, hadOld := codec.Member(before, member)
	cur, hasNew := codec.Member(after, member)
	return hadOld != hasNew || !bytes.Equal(bytes.TrimSpace(old), bytes.TrimSpace(cur))
}

// saved is the Saved of row r, written by w, and remembers its Meta.
func (s *Sessions) saved(r Row, w write, created bool) (store.Saved, error) {
	meta := s.rowMeta(r)
	if err := s.fillMeta(&meta, w.json, w.info); err != nil {
		s.cache.invalidate(w.key)
		return store.Saved{}, err
	}
	s.cache.put(meta, nil, s.gen.Load())
	return store.Saved{Session: store.Session{Meta: meta, JSON: w.json}, Raw: w.data, Created: created}, nil
}
