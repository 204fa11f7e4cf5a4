package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// Stats are the figures of `sessionfs stats` and the mount's .stats.json.
// Every stored session is counted in exactly one of Sessions, Expired and
// Invalid. Formats, Serializers and Keys describe the live sessions only
// (expired ones are on their way out; invalid ones have no format).
type Stats struct {
	Sessions      int   `json:"sessions"`        // live: decodable and not expired (empty placeholders included)
	Empty         int   `json:"empty"`           // of Sessions: zero-byte placeholders
	LoggedInUsers int   `json:"logged_in_users"` // distinct _auth_user_id among live sessions
	LoggedIn      int   `json:"logged_in"`       // of Sessions: those with an _auth_user_id
	Expired       int   `json:"expired"`         // decodable, and Django's load() would discard them (gc removes them)
	Invalid       int   `json:"invalid"`         // not decodable: see Problems
	TempFiles     int   `json:"temp_files"`      // file backend: leftover "_out_" files of interrupted saves
	Bytes         int64 `json:"bytes"`           // total size of the stored sessions (raw)
	TempBytes     int64 `json:"temp_bytes"`      // file backend: total size of the leftover temp files

	Problems    map[string]int `json:"problems"`    // invalid files by Problem: bad-signature, corrupt, not-regular, too-large, invalid-key
	Formats     map[string]int `json:"formats"`     // live sessions by format: signed, legacy, md5
	Serializers map[string]int `json:"serializers"` // live sessions by serializer: json, pickle
	Keys        map[string]int `json:"keys"`        // live sessions by the key that verified them: "current", "fallback N"

	// Operations are the mount's own counters since it started; the CLI
	// (a one-shot process) leaves them out.
	Operations *OpCounts `json:"operations,omitempty"`

	// CacheDiffers (cached_db only; nil for the other backends) counts the
	// cache copies Django serves instead of what their database row holds:
	// a copy whose session differs from its row's, one that does not
	// decode, or one whose row is gone or expired.
	CacheDiffers *int `json:"cache_differs,omitempty"`

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
func (st Stats) FallbackOnly() int {
	n := 0
	for name, count := range st.Keys {
		if name != "current" {
			n += count
		}
	}
	return n
}

// Problem names what is wrong with a stored session that does not decode,
// as verify, ls and the mount's .invalid view report it.
func Problem(err error) string {
	switch {
	case errors.Is(err, codec.ErrBadSignature):
		return "bad-signature"
	case errors.Is(err, ErrNotRegular):
		return "not-regular"
	case errors.Is(err, ErrTooLarge), errors.Is(err, codec.ErrTooLarge):
		return "too-large"
	case errors.Is(err, ErrInvalidKey):
		return "invalid-key" // a database row under a key Django would not have made
	}
	return "corrupt"
}

// Undecodable reports whether err, from Stat or Load, is about what is
// stored (it does not decode, is over the size bound, or is no session
// file at all) rather than about reading it.
func Undecodable(err error) bool {
	for _, target := range []error{codec.ErrBadSignature, codec.ErrCorrupt, codec.ErrUnknownFormat, codec.ErrTooLarge,
		ErrNotRegular, ErrTooLarge} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// CountStats scans st once and counts its entries at time now, judging
// expiry with st.Expired; seen, when not nil, is called for every entry
// (progress). The backend adds what only it knows (TempFiles, TempBytes).
// Memory grows with the number of distinct logged-in users only.
func CountStats(ctx context.Context, st Store, now time.Time, seen func(Entry)) (Stats, error) {
	c := newStatsCounter(st, now)
	err := st.Scan(ctx, func(e Entry) error {
		if seen != nil {
			seen(e)
		}
		c.add(e)
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("computing stats: %w", err)
	}
	return c.stats(), nil
}

// statsCounter accumulates Stats entry by entry.
type statsCounter struct {
	st    Stats
	users map[string]struct{}
	now   time.Time
	store Store
}

func newStatsCounter(s Store, now time.Time) *statsCounter {
	return &statsCounter{
		st: Stats{
			Problems: map[string]int{}, Formats: map[string]int{},
			Serializers: map[string]int{}, Keys: map[string]int{}, Time: now.UTC(),
		},
		users: map[string]struct{}{},
		now:   now,
		store: s,
	}
}

// add counts one Scan entry.
func (c *statsCounter) add(e Entry) {
	c.st.Bytes += e.RawSize
	switch StateOf(c.store, e, c.now) {
	case StateInvalid:
		c.st.Invalid++
		c.st.Problems[Problem(e.Err)]++
	case StateExpired:
		c.st.Expired++
	default:
		c.st.Sessions++
		if e.Empty {
			c.st.Empty++
			return
		}
		c.st.Serializers[e.Info.Serializer.String()]++
		if e.Info.Format != 0 { // signed: a cache value has no format and no key
			c.st.Formats[e.Info.Format.String()]++
			c.st.Keys[e.Info.KeyName()]++
		}
		if e.UserID != "" {
			c.st.LoggedIn++
			c.users[e.UserID] = struct{}{}
		}
	}
}

// stats returns the figures counted so far.
func (c *statsCounter) stats() Stats {
	st := c.st
	st.LoggedInUsers = len(c.users)
	return st
}

// Filter selects Scan entries for `ls`. The zero Filter matches
// everything; set fields narrow the selection (all must hold).
type Filter struct {
	UserID    string        // only sessions whose _auth_user_id is this
	Expired   bool          // only entries Store.Expired (what gc removes; invalid ones expire by their last save)
	Invalid   bool          // only entries that do not decode
	OlderThan time.Duration // only entries last saved before now - OlderThan
}

// Match reports whether e passes f at time now; expired is the store's
// judgement of e (Store.Expired).
func (f Filter) Match(e Entry, expired bool, now time.Time) bool {
	if f.UserID != "" && (e.Err != nil || e.UserID != f.UserID) {
		return false
	}
	if f.Invalid && e.Err == nil {
		return false
	}
	if f.Expired && !expired {
		return false
	}
	if f.OlderThan > 0 && !e.ModTime.Before(now.Add(-f.OlderThan)) {
		return false
	}
	return true
}
