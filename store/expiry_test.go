package store

import (
	"errors"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
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

// TestExpiryDate: what Django's get_expiry_date() gives a save at now, which
// the db backend writes as expire_date.
func TestExpiryDate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 250_000_000, time.UTC)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		session string
		want    time.Time
	}{
		{`{}`, now.Add(DefaultCookieAge)},
		{`{"_session_expiry": null}`, now.Add(DefaultCookieAge)},
		{`{"_session_expiry": 0}`, now.Add(DefaultCookieAge)},
		{`{"_session_expiry": false}`, now.Add(DefaultCookieAge)},
		{`{"_session_expiry": 300}`, now.Add(300 * time.Second)},
		{`{"_session_expiry": -60}`, now.Add(-60 * time.Second)},
		{`{"_session_expiry": 1.5}`, now.Add(1500 * time.Millisecond)},
		{`{"_session_expiry": 0.0000004}`, now},             // timedelta rounds to microseconds
		{`{"_session_expiry": true}`, now.Add(time.Second)}, // True is 1
		{`{"_session_expiry": "2030-01-02T03:04:05+00:00"}`, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
		{`{"_session_expiry": "2030-01-02T03:04:05.250000+02:00"}`, time.Date(2030, 1, 2, 1, 4, 5, 250e6, time.UTC)},
		{`{"_session_expiry": "2030-01-02T03:04:05"}`, time.Date(2030, 1, 2, 3, 4, 5, 0, paris)}, // naive: TIME_ZONE
		{`{"_session_expiry": {"$datetime": "2020-06-01T12:00:00+00:00"}}`, time.Date(2020, 6, 1, 12, 0, 0, 0, time.UTC)},
		{`{"_session_expiry": {"$datetime": "2026-11-26T19:44:32.279660+00:00[pytz.utc]"}}`, time.Date(2026, 11, 26, 19, 44, 32, 279660000, time.UTC)},
		{`{"_session_expiry": {"$datetime": "2024-01-02T03:04:05[Asia/Tokyo]"}}`, time.Date(2024, 1, 1, 18, 4, 5, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := ExpiryDate([]byte(tt.session), now, DefaultCookieAge, paris)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("%s: expiry date %v (%v), want %v", tt.session, got, err, tt.want)
		}
	}
	for _, bad := range []string{
		`{"_session_expiry": "next tuesday"}`,
		`{"_session_expiry": [1]}`,
		`{"_session_expiry": {"a": 1}}`,
		`{"_session_expiry": {"$timedelta": {"days": 1}}}`,
		`{"_session_expiry": 1e400}`,
		`{"_session_expiry": 99999999999}`,
	} {
		if got, err := ExpiryDate([]byte(bad), now, DefaultCookieAge, nil); !errors.Is(err, codec.ErrInvalidSession) {
			t.Errorf("%s: %v, %v; want codec.ErrInvalidSession", bad, got, err)
		}
	}
}

// TestExpiryAge: the relative age behind ExpiryDate, which also tells when
// a database row was last saved (expire_date - age).
func TestExpiryAge(t *testing.T) {
	for _, tt := range []struct {
		session string
		age     time.Duration
		ok      bool
	}{
		{`{}`, DefaultCookieAge, true},
		{`{"_session_expiry": 0}`, DefaultCookieAge, true},
		{`{"_session_expiry": 300}`, 300 * time.Second, true},
		{`{"_session_expiry": -5}`, -5 * time.Second, true},
		{`{"_session_expiry": "2030-01-02T03:04:05+00:00"}`, 0, false},
		{`{"_session_expiry": "garbage"}`, 0, false},
	} {
		age, ok := ExpiryAge([]byte(tt.session), DefaultCookieAge)
		if age != tt.age || ok != tt.ok {
			t.Errorf("%s: age %v %v, want %v %v", tt.session, age, ok, tt.age, tt.ok)
		}
	}
}

// TestMetaExpiredInstant: the db backend's rule, expire_date > now, to the
// nanosecond.
func TestMetaExpiredInstant(t *testing.T) {
	exp := time.Date(2030, 1, 1, 0, 0, 10, 500_000_000, time.UTC)
	m := Meta{Expiry: exp, ExpiryInstant: true}
	for _, tt := range []struct {
		now  time.Time
		want bool
	}{
		{exp.Add(-time.Second), false},
		{exp.Add(-time.Microsecond), false}, // the whole-second rule says expired
		{exp, true},
		{exp.Add(time.Nanosecond), true},
	} {
		if got := m.Expired(tt.now); got != tt.want {
			t.Errorf("Expired(expiry%+v) = %v, want %v", tt.now.Sub(exp), got, tt.want)
		}
	}
	if (Meta{ExpiryInstant: true}).Expired(time.Now()) {
		t.Errorf("zero Expiry (never) reported expired")
	}
}
