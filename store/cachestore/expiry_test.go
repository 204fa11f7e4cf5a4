package cachestore

import (
	"errors"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

func TestExpiryAge(t *testing.T) {
	at := time.Date(2026, 11, 25, 19, 43, 17, 950467000, time.UTC)
	for _, tc := range []struct {
		session string
		want    time.Duration
	}{
		{`{}`, store.DefaultCookieAge},
		{`{"_session_expiry": null}`, store.DefaultCookieAge},
		{`{"_session_expiry": 0}`, store.DefaultCookieAge}, // browser-close sessions live SESSION_COOKIE_AGE in a cache
		{`{"_session_expiry": 0.0}`, store.DefaultCookieAge},
		{`{"_session_expiry": false}`, store.DefaultCookieAge},
		{`{"_session_expiry": 300}`, 300 * time.Second},
		{`{"_session_expiry": -60}`, -60 * time.Second},
		{`{"_session_expiry": 1.5}`, 1500 * time.Millisecond},
		{`{"_session_expiry": true}`, time.Second},
		// Django 4.1+: an ISO string; 3.2 in a cache: a pickled aware datetime.
		{`{"_session_expiry": "2026-11-26T19:43:29.479884+00:00"}`, 86411 * time.Second},
		{`{"_session_expiry": {"$datetime": "2026-11-26T19:44:32.279660+00:00[pytz.utc]"}}`, 86474 * time.Second},
		{`{"_session_expiry": {"$datetime": "2026-11-25T20:43:17.950467+01:00[Europe/Paris]"}}`, 0},
		{`{"_session_expiry": {"$datetime": "2026-11-25T19:43:17.950466+00:00"}}`, -time.Second}, // rounded down, as timedelta
		{`{"_session_expiry": "2026-11-25T19:43:18"}`, 0},                                        // naive: UTC
	} {
		got, err := expiryAge([]byte(tc.session), at, store.DefaultCookieAge)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.session, got, err, tc.want)
		}
	}
	for _, bad := range []string{`{"_session_expiry": "next tuesday"}`, `{"_session_expiry": [1]}`,
		`{"_session_expiry": {"$timedelta": {"days": 1}}}`, `{"_session_expiry": 1e300}`, `{"_session_expiry": "2999-01-01T00:00:00"}`} {
		if _, err := expiryAge([]byte(bad), at, store.DefaultCookieAge); !errors.Is(err, codec.ErrInvalidSession) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
