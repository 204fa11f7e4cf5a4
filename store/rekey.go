package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// RekeyOutcome is what Rekey did with one session file.
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

// RekeyItem reports one session file examined by Rekey.
type RekeyItem struct {
	Key     string
	Outcome RekeyOutcome
	Why     string // RekeyDone: what was out of date ("fallback 1, format legacy"); RekeySkipped: the reason
	Err     error  // RekeyError and RekeyConflict
	Before  []byte // backing bytes before (RekeyDone only)
	After   []byte // backing bytes written (RekeyDone, not in a dry run)
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
// each file keeps its modification time, so no expiry moves. A file is only
// replaced while it is still the version read (SaveOptions.IfMatch): a
// concurrent Django save wins and is reported as a conflict.
//
// Left untouched, with a reason: invalid files (they cannot be re-signed
// without the key), expired sessions (gc removes them), and sessions whose
// values cannot be written with the target serializer (a tuple or datetime
// when the target is json). Empty placeholders hold nothing signed and count
// as current. each, when not nil, is called for every file (progress, output,
// audit). Only a failure of the scan itself is returned as an error.
func (s *FileStore) Rekey(ctx context.Context, opt RekeyOptions, each func(RekeyItem)) (RekeyResult, error) {
	target := opt.Target
	if target.Format == 0 {
		target.Format = codec.FormatSigned
	}
	if target.Serializer == 0 {
		target.Serializer = codec.SerializerJSON
	}
	res := RekeyResult{Skipped: map[string]int{}}
	now := s.cfg.Now()
	err := s.Scan(ctx, func(e Entry) error {
		res.Scanned++
		item := s.rekeyEntry(ctx, e, target, opt.DryRun, now)
		switch item.Outcome {
		case RekeyDone:
			res.Rekeyed++
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
	return res, nil
}

// rekeyEntry handles one Scan entry: judged from its metadata first, so
// that a current session costs no read.
func (s *FileStore) rekeyEntry(ctx context.Context, e Entry, target codec.EncodeOptions, dryRun bool, now time.Time) RekeyItem {
	item := RekeyItem{Key: e.Key}
	if skip, ok := s.rekeySkip(e, now); ok {
		item.Outcome, item.Why = RekeySkipped, skip
		return item
	}
	if e.Empty || outdated(e.Info, target) == "" {
		item.Outcome = RekeyCurrent
		return item
	}
	// Read the file again: the bytes re-signed must be exactly the version
	// the write is conditional on.
	data, id, err := s.readRaw(e.Key)
	if errors.Is(err, ErrNotFound) {
		item.Outcome, item.Why = RekeySkipped, "removed meanwhile"
		return item
	}
	if err != nil {
		item.Outcome, item.Err = RekeyError, err
		return item
	}
	sessionJSON, meta, err := s.decodeFile(e.Key, id, data)
	cur := Entry{Meta: meta, Err: err}
	if skip, ok := s.rekeySkip(cur, now); ok {
		item.Outcome, item.Why = RekeySkipped, skip
		return item
	}
	why := outdated(meta.Info, target)
	if meta.Empty || why == "" {
		item.Outcome = RekeyCurrent // Django re-saved it meanwhile
		return item
	}
	if target.Serializer == codec.SerializerJSON && codec.HasTagged(sessionJSON) {
		item.Outcome, item.Why = RekeySkipped, "values need pickle"
		return item
	}
	newData, err := s.codec.Encode(sessionJSON, target)
	if errors.Is(err, codec.ErrUnsupportedValue) {
		item.Outcome, item.Why = RekeySkipped, "cannot be encoded as "+target.Serializer.String()
		return item
	}
	if err != nil {
		item.Outcome, item.Err = RekeyError, fmt.Errorf("session %s: encoding: %w", e.Key, err)
		return item
	}
	item.Why, item.Before, item.JSON = why, data, sessionJSON
	if dryRun {
		item.Outcome = RekeyDone
		return item
	}
	if err := ctx.Err(); err != nil {
		item.Outcome, item.Err = RekeyError, err
		return item
	}
	if _, err := s.writeFile(e.Key, newData, SaveOptions{ModTime: id.ModTime, IfMatch: &id}, nil); err != nil {
		item.Outcome, item.Err = RekeyError, err
		if errors.Is(err, ErrConflict) {
			item.Outcome = RekeyConflict
		}
		return item
	}
	item.Outcome, item.After = RekeyDone, newData
	return item
}

// rekeySkip says why an entry is not re-signed, if it is not.
func (s *FileStore) rekeySkip(e Entry, now time.Time) (string, bool) {
	switch {
	case e.Err != nil:
		return "invalid: " + Problem(e.Err), true
	case s.ExpiredForDjango(e, now):
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

// ReadRaw returns the bytes of key's backing file and the identity of that
// version, read safely (never through a symlink, never more than
// Config.MaxFileSize): for audit hashes and conditional changes
// (SaveOptions.IfMatch). ErrNotFound when there is no file.
func (s *FileStore) ReadRaw(ctx context.Context, key string) ([]byte, FileID, error) {
	if err := s.checkKey(key); err != nil {
		return nil, FileID{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, FileID{}, err
	}
	return s.readRaw(key)
}
