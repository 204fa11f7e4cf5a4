package cachestore

import (
	"bytes"
	"fmt"
	"math/big"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// maxExpiryAge bounds the ages expiryAge gives: a session living longer is
// a typo, and Memcached takes no expiry time past 2106.
const maxExpiryAge = 50 * 365 * 24 * time.Hour

// expiryAge is Django's SessionBase.get_expiry_age() for a save at time
// at, which the cache backend passes to the cache as the key's TTL (and
// for which the cache deletes the key instead when it is not positive):
//
//   - _session_expiry falsy (absent, null, false, 0, "", [] or {}): cookieAge;
//   - a number N (true counts as 1): N seconds, Django returning the number
//     itself;
//   - a datetime (tagged {"$datetime": ...}, or an ISO-8601 string as Django
//     4.1+ stores it): the whole seconds from at to it, rounded down as
//     timedelta's days*86400 + seconds are;
//   - anything else is an error wrapping codec.ErrInvalidSession: Django's
//     save would raise on it (a string that is not a date, a list...).
func expiryAge(sessionJSON []byte, at time.Time, cookieAge time.Duration) (time.Duration, error) {
	raw, _ := codec.Member(sessionJSON, "_session_expiry")
	raw = bytes.TrimSpace(raw)
	bad := func(why string) (time.Duration, error) {
		shown := string(raw)
		if len(shown) > 64 {
			shown = shown[:61] + "..."
		}
		return 0, fmt.Errorf("%w: _session_expiry %s %s", codec.ErrInvalidSession, shown, why)
	}
	switch {
	case string(raw) == "true":
		return time.Second, nil
	case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '1' && raw[0] <= '9' || raw[0] == '0' && len(raw) > 1):
		f, _, err := big.ParseFloat(string(raw), 10, 64, big.ToZero)
		if err != nil {
			return bad("is not a number Django reads")
		}
		if f.Sign() == 0 { // 0.0: falsy
			return cookieAge, nil
		}
		ns, _ := new(big.Float).Mul(f, big.NewFloat(float64(time.Second))).Int64()
		if d := time.Duration(ns); d <= maxExpiryAge && d >= -maxExpiryAge {
			return d, nil
		}
		return bad("is out of range")
	}
	// Falsy values and datetimes: the instant Django's load would see.
	expiry := store.ExpiryOf(sessionJSON, at, cookieAge)
	switch {
	case expiry.IsZero():
		return bad("is neither a number nor a datetime: Django cannot compute an expiry age from it")
	case expiry.Sub(at) > maxExpiryAge || expiry.Sub(at) < -maxExpiryAge:
		return bad("is out of range")
	}
	d := expiry.Sub(at)
	if d == cookieAge {
		return cookieAge, nil
	}
	secs := d / time.Second
	if d < 0 && d%time.Second != 0 {
		secs-- // timedelta rounds towards the past
	}
	return secs * time.Second, nil
}
