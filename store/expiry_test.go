package store

import (
	"testing"
	"time"
)

func TestExpiryOf(t *testing.T) {
	mtime := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	byMtime := mtime.Add(DefaultCookieAge)
	never := time.Time{}
	tests := []struct {
		session string
		want    time.Time
	}{
		{`{}`, byMtime},
		{`{"_session_expiry": null}`, byMtime},
		{`{"_session_expiry": 0}`, byMtime}, // browser-close: falls back to the mtime
		{`{"_session_expiry": 0.0}`, byMtime},
		{`{"_session_expiry": false}`, byMtime},
		{`{"_session_expiry": ""}`, byMtime},
		{`{"_session_expiry": []}`, byMtime},
		{`{"_session_expiry": 300}`, never}, // Django's age is 300 itself: never expired
		{`{"_session_expiry": 1.5}`, never},
		{`{"_session_expiry": true}`, never},
		{`{"_session_expiry": -1}`, AlwaysExpired}, // age -1: always expired
		{`{"_session_expiry": -0.5}`, AlwaysExpired},
		{`{"_session_expiry": "2030-01-02T03:04:05+00:00"}`, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
		{`{"_session_expiry": "2030-01-02T03:04:05.250000+02:00"}`, time.Date(2030, 1, 2, 1, 4, 5, 250e6, time.UTC)},
		{`{"_session_expiry": "2030-01-02T03:04:05"}`, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}, // naive: UTC
		{`{"_session_expiry": {"$datetime": "2020-06-01T12:00:00+00:00"}}`, time.Date(2020, 6, 1, 12, 0, 0, 0, time.UTC)},
		{`{"_session_expiry": {"$datetime": "2020-06-01T12:00:00.000001"}}`, time.Date(2020, 6, 1, 12, 0, 0, 1000, time.UTC)},
		{`{"_session_expiry": {"$datetime": "2030-01-02T03:04:05.000001+00:00[pytz.utc]"}}`, time.Date(2030, 1, 2, 3, 4, 5, 1000, time.UTC)},
		{`{"_session_expiry": {"$datetime": "2024-10-27T02:30:00+01:00[Europe/Paris]"}}`, time.Date(2024, 10, 27, 1, 30, 0, 0, time.UTC)},
		{`{"_session_expiry": "next tuesday"}`, never},
		{`{"_session_expiry": {"$timedelta": {"days": 1}}}`, never},
		{`{"other": 1, "_session_expiry": {"$datetime": "2021-01-01T00:00:00Z"}}`, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got := ExpiryOf([]byte(tt.session), mtime, DefaultCookieAge)
		if !got.Equal(tt.want) {
			t.Errorf("%s: expiry %v, want %v", tt.session, got, tt.want)
		}
	}
}

// TestMetaExpiredBoundary: Django's age is whole seconds rounded down and
// the session expires at age <= 0.
func TestMetaExpiredBoundary(t *testing.T) {
	exp := time.Date(2030, 1, 1, 0, 0, 10, 0, time.UTC)
	m := Meta{Expiry: exp}
	for _, tt := range []struct {
		now  time.Time
		want bool
	}{
		{exp.Add(-2 * time.Second), false},
		{exp.Add(-time.Second), false},                   // age 1
		{exp.Add(-time.Second + time.Microsecond), true}, // age 0.999999 -> 0
		{exp, true},
		{exp.Add(time.Hour), true},
	} {
		if got := m.Expired(tt.now); got != tt.want {
			t.Errorf("Expired(expiry%+v) = %v, want %v", tt.now.Sub(exp), got, tt.want)
		}
	}
	if (Meta{}).Expired(time.Now()) {
		t.Errorf("zero Expiry (never) reported expired")
	}
	if !(Meta{Expiry: AlwaysExpired}).Expired(time.Now()) {
		t.Errorf("AlwaysExpired not expired")
	}
}
