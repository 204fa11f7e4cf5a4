package store

import (
	"testing"
	"time"
)

// StateOf: an entry that does not decode is invalid whatever its expiry;
// the others are expired or live by the store's rule.
func TestStateOf(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	st := expiryRule{}
	for _, c := range []struct {
		e    Entry
		want State
	}{
		{Entry{Meta: Meta{Expiry: now.Add(time.Hour)}}, StateLive},
		{Entry{Meta: Meta{Expiry: now.Add(-time.Hour)}}, StateExpired},
		{Entry{Meta: Meta{Expiry: now.Add(time.Hour)}, Err: ErrTooLarge}, StateInvalid},
		{Entry{Meta: Meta{Expiry: now.Add(-time.Hour)}, Err: ErrNotRegular}, StateInvalid},
	} {
		if got := StateOf(st, c.e, now); got != c.want {
			t.Errorf("%+v: %v, want %v", c.e, got, c.want)
		}
	}
}

// expiryRule is a Store whose only rule is Meta's expiry.
type expiryRule struct{ Store }

func (expiryRule) Expired(e Entry, now time.Time) bool { return e.Expired(now) }
