package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// Stats are the figures of `sessionfs stats` and the mount's .stats.json.
// Every session file is counted in exactly one of Sessions, Expired and
// Invalid. Formats, Serializers and Keys describe the live sessions only
// (expired ones are on their way out; invalid ones have no format).
type Stats struct {
	Sessions      int   `json:"sessions"`        // live: decodable and not expired (empty placeholders included)
	Empty         int   `json:"empty"`           // of Sessions: zero-byte placeholders
	LoggedInUsers int   `json:"logged_in_users"` // distinct _auth_user_id among live sessions
	LoggedIn      int   `json:"logged_in"`       // of Sessions: those with an _auth_user_id
	Expired       int   `json:"expired"`         // decodable, and Django's load() would discard them (gc removes them)
	Invalid       int   `json:"invalid"`         // not decodable: see Problems
	TempFiles     int   `json:"temp_files"`      // leftover "_out_" files of interrupted saves
	Bytes         int64 `json:"bytes"`           // total size of the session files (raw, on disk)
	TempBytes     int64 `json:"temp_bytes"`      // total size of the leftover temp files

	Problems    map[string]int `json:"problems"`    // invalid files by Problem: bad-signature, corrupt, not-regular, too-large
	Formats     map[string]int `json:"formats"`     // live sessions by format: signed, legacy, md5
	Serializers map[string]int `json:"serializers"` // live sessions by serializer: json, pickle
	Keys        map[string]int `json:"keys"`        // live sessions by the key that verified them: "current", "fallback N"

	// Operations are the mount's own counters since it started; the CLI
	// (a one-shot process) leaves them out.
	Operations *OpCounts `json:"operations,omitempty"`

	Time time.Time `json:"time"` // when the figures were computed
}

// OpCounts are operation counters of a long-running process (the mount).
type OpCounts struct {
	Reads          uint64 `json:"reads"`
	Writes         uint64 `json:"writes"`
	RejectedWrites uint64 `json:"rejected_writes"`
	Deletes        uint64 `json:"deletes"`
	Errors         uint64 `json:"errors"`
}

// FallbackOnly is how many live sessions verify only with a fallback key:
// what is left to do in a SECRET_KEY rotation (rekey finishes it).
func (st Stats) FallbackOnly() int { return st.Sessions - st.Empty - st.Keys["current"] }

// Problem names what is wrong with a file that does not decode, as verify,
// ls and the mount's .invalid view report it.
func Problem(err error) string {
	switch {
	case errors.Is(err, codec.ErrBadSignature):
		return "bad-signature"
	case errors.Is(err, ErrNotRegular):
		return "not-regular"
	case errors.Is(err, ErrTooLarge), errors.Is(err, codec.ErrTooLarge):
		return "too-large"
	}
	return "corrupt"
}

// StatsCounter accumulates Stats entry by entry, so that a caller already
// scanning (the mount listing its views) can count without a second scan.
type StatsCounter struct {
	st    Stats
	users map[string]struct{}
	now   time.Time
	store *FileStore
}

// NewStatsCounter starts counting at time now (expiry is judged at now).
func (s *FileStore) NewStatsCounter(now time.Time) *StatsCounter {
	return &StatsCounter{
		st: Stats{
			Problems: map[string]int{}, Formats: map[string]int{},
			Serializers: map[string]int{}, Keys: map[string]int{}, Time: now.UTC(),
		},
		users: map[string]struct{}{},
		now:   now,
		store: s,
	}
}

// Add counts one Scan entry.
func (c *StatsCounter) Add(e Entry) {
	c.st.Bytes += e.ID.Size
	switch {
	case e.Err != nil:
		c.st.Invalid++
		c.st.Problems[Problem(e.Err)]++
	case c.store.ExpiredForDjango(e, c.now):
		c.st.Expired++
	default:
		c.st.Sessions++
		if e.Empty {
			c.st.Empty++
			return
		}
		c.st.Formats[e.Info.Format.String()]++
		c.st.Serializers[e.Info.Serializer.String()]++
		c.st.Keys[e.Info.KeyName()]++
		if e.UserID != "" {
			c.st.LoggedIn++
			c.users[e.UserID] = struct{}{}
		}
	}
}

// AddTemp counts one leftover temp file.
func (c *StatsCounter) AddTemp(tf TempFile) {
	c.st.TempFiles++
	c.st.TempBytes += tf.Size
}

// Stats returns the figures counted so far.
func (c *StatsCounter) Stats() Stats {
	st := c.st
	st.LoggedInUsers = len(c.users)
	return st
}

// Stats scans the directory once (and its temp files) and returns the
// figures. seen, when not nil, is called for every session entry (progress).
// Memory grows with the number of distinct logged-in users only.
func (s *FileStore) Stats(ctx context.Context, seen func(Entry)) (Stats, error) {
	c := s.NewStatsCounter(s.cfg.Now())
	err := s.Scan(ctx, func(e Entry) error {
		if seen != nil {
			seen(e)
		}
		c.Add(e)
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("computing stats: %w", err)
	}
	err = s.TempFiles(ctx, func(tf TempFile) error {
		c.AddTemp(tf)
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("computing stats: %w", err)
	}
	return c.Stats(), nil
}

// Filter selects Scan entries, for `ls` and the mount's views. The zero
// Filter matches everything; set fields narrow the selection (all must hold).
type Filter struct {
	UserID    string        // only sessions whose _auth_user_id is this
	Expired   bool          // only files ExpiredForDjango (what gc removes; invalid ones expire by mtime)
	Invalid   bool          // only files that do not decode
	OlderThan time.Duration // only files whose mtime is older than now - OlderThan
}

// Match reports whether e passes f at time now.
func (s *FileStore) Match(f Filter, e Entry, now time.Time) bool {
	if f.UserID != "" && (e.Err != nil || e.UserID != f.UserID) {
		return false
	}
	if f.Invalid && e.Err == nil {
		return false
	}
	if f.Expired && !s.ExpiredForDjango(e, now) {
		return false
	}
	if f.OlderThan > 0 && !e.ID.ModTime.Before(now.Add(-f.OlderThan)) {
		return false
	}
	return true
}
