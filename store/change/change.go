// Package change is the one policy for changing sessions, written over the
// store.Store contract and used by the CLI and the mount alike: a save, a
// removal, a re-key or a renewal together with its audit record, and the
// bulk operations (gc, revoke, rekey). Every audit record is built from
// what the store reports it did (store.Saved, store.Removal), never from
// reading the session again: Django may have written it since.
package change

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/store"
)

// ErrNotLogged wraps a failure to write the audit record of a change.
var ErrNotLogged = errors.New("not recorded in the audit log")

// Audit is where changes are recorded and who asks for them. The zero
// Audit records nothing.
type Audit struct {
	Log    *audit.Logger       // nil: nothing is recorded
	Caller func() audit.Caller // who asks; called only when there is a Log
	// LogFailed, when not nil, takes a failure to write a record instead
	// of it being returned (wrapping ErrNotLogged): the change itself is
	// done or refused as reported, and the mount must not say otherwise.
	LogFailed func(rec audit.Record, err error)
}

// on reports whether changes are recorded.
func (a Audit) on() bool { return a.Log != nil }

// record appends rec; a failure is returned wrapping ErrNotLogged.
func (a Audit) record(rec audit.Record) error {
	if !a.on() {
		return nil
	}
	var who audit.Caller
	if a.Caller != nil {
		who = a.Caller()
	}
	if err := a.Log.Log(who, rec); err != nil {
		if a.LogFailed != nil {
			a.LogFailed(rec, err)
			return nil
		}
		return fmt.Errorf("session %s: %w: %w", rec.Key, ErrNotLogged, err)
	}
	return nil
}

// unchanged is what a refused change left, for its record: the session as
// stored now (an empty value stays distinct from nothing stored).
func (a Audit) unchanged(ctx context.Context, st store.Store, key string) (raw, sessionJSON []byte) {
	raw, _, err := st.ReadRaw(ctx, key)
	if err != nil {
		return nil, nil
	}
	if a.Log.Content() {
		if sess, err := st.Load(ctx, key); err == nil {
			sessionJSON = sess.JSON
		}
	}
	return raw, sessionJSON
}

// Save saves sessionJSON as key's session (st.Save) and records a create,
// a write, or a rejected write with the reason. The record of a save holds
// what the save replaced and wrote, as the store reports them.
func Save(ctx context.Context, st store.Store, key string, sessionJSON []byte, opt store.SaveOptions, a Audit) (store.Saved, error) {
	opt.ReportBefore = opt.ReportBefore || a.on()
	saved, err := st.Save(ctx, key, sessionJSON, opt)
	if !a.on() || opt.DryRun {
		return saved, err
	}
	if err != nil {
		raw, cur := a.unchanged(ctx, st, key)
		logErr := a.record(audit.Record{Op: audit.OpRejectedWrite, Key: key, Before: raw, After: raw,
			BeforeJSON: cur, AfterJSON: sessionJSON, Reason: err.Error()})
		return saved, errors.Join(err, logErr)
	}
	rec := audit.Record{Op: audit.OpWrite, Key: key, Before: saved.Before, BeforeJSON: saved.BeforeJSON,
		After: saved.Raw, AfterJSON: saved.JSON}
	switch {
	case saved.Created:
		rec.Op = audit.OpCreate
	case saved.Before == nil:
		rec.Reason = "the version replaced was too large to hash"
	}
	return saved, a.record(rec)
}

// Refuse records a change the caller refused before asking the store (a
// write to the open file failed, so what it holds is not what was meant):
// a rejected write of attempted (nil: nothing worth showing) with reason,
// and the session as it stays.
func Refuse(ctx context.Context, st store.Store, key string, attempted []byte, reason string, a Audit) error {
	if !a.on() {
		return nil
	}
	raw, cur := a.unchanged(ctx, st, key)
	return a.record(audit.Record{Op: audit.OpRejectedWrite, Key: key, Before: raw, After: raw,
		BeforeJSON: cur, AfterJSON: attempted, Reason: reason})
}

// Remove deletes key's session if match accepts what is stored
// (st.RemoveIf) and records the removal as op (delete, gc, revoke) with
// reason. Nothing to remove is no error and no record: the Removal says so.
func Remove(ctx context.Context, st store.Store, key string, match func(store.Entry) bool, op audit.Op, reason string, a Audit) (store.Removal, error) {
	r, err := st.RemoveIf(ctx, key, false, match)
	if err != nil || !r.Removed {
		return r, err
	}
	return r, a.recordRemoval(op, r, reason)
}

// recordRemoval records one removal made by RemoveIf.
func (a Audit) recordRemoval(op audit.Op, r store.Removal, reason string) error {
	if !a.on() {
		return nil
	}
	if r.Raw == nil {
		reason = joinReason(reason, "file too large to hash")
	}
	return a.record(audit.Record{Op: op, Key: r.Key, Before: r.Raw, BeforeJSON: r.JSON, Reason: reason})
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// Rename re-keys a session (st.Rename) and records a rename of the bytes
// moved, or a rejected write with the reason.
func Rename(ctx context.Context, st store.Store, from, to string, a Audit) (store.Saved, error) {
	saved, err := st.Rename(ctx, from, to)
	if !a.on() {
		return saved, err
	}
	if err != nil {
		raw, cur := a.unchanged(ctx, st, from)
		logErr := a.record(audit.Record{Op: audit.OpRejectedWrite, Key: from, NewKey: to, Before: raw, After: raw,
			BeforeJSON: cur, Reason: err.Error()})
		return saved, errors.Join(err, logErr)
	}
	return saved, a.record(audit.Record{Op: audit.OpRename, Key: from, NewKey: to,
		Before: saved.Raw, After: saved.Raw, BeforeJSON: saved.JSON, AfterJSON: saved.JSON})
}

// Renew renews key's expiry as of at (st.Renew) and records a touch. A
// refused renewal is not recorded: nothing changed, and no content was
// offered.
func Renew(ctx context.Context, st store.Store, key string, at time.Time, ifMatch store.Version, a Audit) (store.Saved, error) {
	saved, err := st.Renew(ctx, key, at, ifMatch)
	if err != nil || !a.on() {
		return saved, err
	}
	return saved, a.record(audit.Record{Op: audit.OpTouch, Key: key, Before: saved.Raw, After: saved.Raw,
		Reason: "renewed as of " + at.UTC().Format(time.RFC3339Nano)})
}

// ClearExpired is gc: st.ClearExpired, with every session removed recorded
// (then each is read before its removal, for the hash).
func ClearExpired(ctx context.Context, st store.Store, opt store.ClearOptions, a Audit, seen func(store.Entry)) (store.ClearResult, error) {
	var logErr error
	if a.on() && !opt.DryRun {
		opt.Removed = func(r store.Removal) {
			if err := a.recordRemoval(audit.OpGC, r, "expired"); err != nil && logErr == nil {
				logErr = err
			}
		}
	}
	res, err := st.ClearExpired(ctx, opt, seen)
	if err == nil {
		err = logErr
	}
	return res, err
}
