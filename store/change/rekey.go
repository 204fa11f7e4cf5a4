package change

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// RekeyOutcome is what Rekey did with one session.
type RekeyOutcome string

const (
	RekeyDone     RekeyOutcome = "rekeyed"  // re-signed (dry run: would be)
	RekeyCurrent  RekeyOutcome = "current"  // already signed with the current key in the target format
	RekeySkipped  RekeyOutcome = "skipped"  // left untouched on purpose; Why says why
	RekeyConflict RekeyOutcome = "conflict" // changed by someone else (Django) between read and write: not overwritten
	RekeyError    RekeyOutcome = "error"    // reading or writing failed; Err says how
)

// RekeyOptions choose what Rekey writes.
type RekeyOptions struct {
	// Target is the format, serializer and algorithm every session should
	// end up in. Zero fields mean what codec.Encode defaults to (signed, json,
	// the codec's algorithm); a zero Algorithm matches any algorithm.
	Target codec.EncodeOptions
	DryRun bool
}

// RekeyItem reports one session examined by Rekey.
type RekeyItem struct {
	Key     string
	Outcome RekeyOutcome
	Why     string // RekeyDone: what was out of date ("fallback 1, format legacy"); RekeySkipped: the reason
	Err     error  // RekeyError and RekeyConflict
	Before  []byte // stored bytes replaced (RekeyDone, not in a dry run)
	After   []byte // stored bytes written (RekeyDone; in a dry run, those that would be)
	JSON    []byte // the session (RekeyDone only): unchanged by a rekey
}

// RekeyResult counts Rekey's outcomes.
type RekeyResult struct {
	Scanned   int
	Rekeyed   int
	Current   int
	Skipped   map[string]int // by reason
	Conflicts int
	Errors    int
}

// Rekey re-signs, with the current SECRET_KEY and in opt.Target's format
// and serializer, every live session that verifies only with a fallback
// key or is stored otherwise; this finishes a key rotation or a Django
// upgrade without logging anyone out. The session content is unchanged and
// its expiry does not move (SaveOptions.KeepExpiry). A session is only
// replaced while it is still the version read (SaveOptions.IfMatch): a
// concurrent Django save wins and is reported as a conflict. Each
// re-signed session is recorded as a rekey.
//
// Left untouched, with a reason: invalid sessions (they cannot be
// re-signed without the key), expired sessions (gc removes them), and
// sessions whose values cannot be written with the target serializer (a
// tuple or datetime when the target is json). Empty placeholders hold
// nothing signed and count as current. each, when not nil, is called for
// every session (progress, output). Only a failure of the scan itself, or
// of the audit log, is returned as an error; a store whose sessions are not
// signed (store.Description.Signed) has nothing to rekey.
func Rekey(ctx context.Context, st store.Store, opt RekeyOptions, a Audit, each func(RekeyItem)) (RekeyResult, error) {
	res := RekeyResult{Skipped: map[string]int{}}
	if d := st.Describe(); !d.Signed {
		return res, fmt.Errorf("rekeying sessions: the %s backend does not sign sessions: nothing to re-sign", d.Backend)
	}
	target := opt.Target
	if target.Format == 0 {
		target.Format = codec.FormatSigned
	}
	if target.Serializer == 0 {
		target.Serializer = codec.SerializerJSON
	}
	now := time.Now()
	var logErr error
	err := st.Scan(ctx, func(e store.Entry) error {
		res.Scanned++
		item := rekeyEntry(ctx, st, e, target, opt.DryRun, now)
		switch item.Outcome {
		case RekeyDone:
			res.Rekeyed++
			if !opt.DryRun {
				err := a.record(audit.Record{Op: audit.OpRekey, Key: item.Key, Before: item.Before, After: item.After,
					BeforeJSON: item.JSON, AfterJSON: item.JSON, Reason: item.Why})
				if err != nil && logErr == nil {
					logErr = err
				}
			}
		case RekeyCurrent:
			res.Current++
		case RekeySkipped:
			res.Skipped[item.Why]++
		case RekeyConflict:
			res.Conflicts++
		case RekeyError:
			res.Errors++
		}
		if each != nil {
			each(item)
		}
		return ctx.Err()
	})
	if err != nil {
		return res, fmt.Errorf("rekeying sessions: %w", err)
	}
	return res, logErr
}

// rekeyEntry handles one Scan entry: judged from its metadata first, so
// that a current session costs no read.
func rekeyEntry(ctx context.Context, st store.Store, e store.Entry, target codec.EncodeOptions, dryRun bool, now time.Time) RekeyItem {
	item := RekeyItem{Key: e.Key}
	if skip, ok := rekeySkip(st, e, now); ok {
		item.Outcome, item.Why = RekeySkipped, skip
		return item
	}
	if e.Empty || outdated(e.Info, target) == "" {
		item.Outcome = RekeyCurrent
		return item
	}
	// Load it again: what is re-signed must be exactly the version the
	// write is conditional on.
	sess, err := st.Load(ctx, e.Key)
	if errors.Is(err, store.ErrNotFound) {
		item.Outcome, item.Why = RekeySkipped, "removed meanwhile"
		return item
	}
	if err != nil && !store.Undecodable(err) {
		item.Outcome, item.Err = RekeyError, err
		return item
	}
	cur := store.Entry{Meta: store.Meta{Key: e.Key}, Err: err}
	if err == nil {
		cur.Meta = sess.Meta
	}
	if skip, ok := rekeySkip(st, cur, now); ok {
		item.Outcome, item.Why = RekeySkipped, skip
		return item
	}
	why := outdated(sess.Info, target)
	if sess.Empty || why == "" {
		item.Outcome = RekeyCurrent // Django re-saved it meanwhile
		return item
	}
	if target.Serializer == codec.SerializerJSON && codec.HasTagged(sess.JSON) {
		item.Outcome, item.Why = RekeySkipped, "values need pickle"
		return item
	}
	if err := ctx.Err(); err != nil {
		item.Outcome, item.Err = RekeyError, err
		return item
	}
	saved, err := st.Save(ctx, e.Key, sess.JSON, store.SaveOptions{
		IfMatch: sess.Version, KeepExpiry: true, Encode: &target, DryRun: dryRun, ReportBefore: true,
	})
	switch {
	case errors.Is(err, codec.ErrUnsupportedValue):
		item.Outcome, item.Why = RekeySkipped, "cannot be encoded as "+target.Serializer.String()
	case errors.Is(err, store.ErrConflict):
		item.Outcome, item.Err = RekeyConflict, err
	case err != nil:
		item.Outcome, item.Err = RekeyError, err
	default:
		item.Outcome, item.Why, item.Before, item.After, item.JSON = RekeyDone, why, saved.Before, saved.Raw, sess.JSON
	}
	return item
}

// rekeySkip says why an entry is not re-signed, if it is not.
func rekeySkip(st store.Store, e store.Entry, now time.Time) (string, bool) {
	switch store.StateOf(st, e, now) {
	case store.StateInvalid:
		return "invalid: " + store.Problem(e.Err), true
	case store.StateExpired:
		return "expired", true
	}
	return "", false
}

// outdated lists how a session's encoding differs from the target: "" when
// it is current.
func outdated(info codec.Info, target codec.EncodeOptions) string {
	var why []string
	if info.KeyIndex > 0 {
		why = append(why, info.KeyName())
	}
	if info.Format != target.Format {
		why = append(why, "format "+info.Format.String())
	}
	if info.Serializer != target.Serializer {
		why = append(why, "serializer "+info.Serializer.String())
	}
	if target.Format == codec.FormatSigned && info.Format == codec.FormatSigned &&
		target.Algorithm != 0 && info.Algorithm != target.Algorithm {
		why = append(why, "algorithm "+info.Algorithm.String())
	}
	return strings.Join(why, ", ")
}
