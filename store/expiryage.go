package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// maxExpiryAge bounds the ages ExpiryAge gives: a session living longer
// than this is a typo, and no cache server takes a TTL past it.
const maxExpiryAge = 100 * 365 * 24 * time.Hour

// ExpiryAge is Django's SessionBase.get_expiry_age() for a save at time at:
// how long the session lives from then. The cache backend stores it as the
// key's TTL (and deletes the key instead when it is not positive).
//
//   - _session_expiry falsy (absent, null, false, 0, "", [] or {}): cookieAge;
//   - a number N (true counts as 1): N seconds, Django returning the number
//     itself;
//   - a datetime (tagged {"$datetime": ...}, or an ISO-8601 string as Django
//     4.1+ stores it): the whole seconds from at to it, rounded down as
//     timedelta's days*86400 + seconds are; a naive one is taken as UTC;
//   - anything else is an error wrapping codec.ErrInvalidSession: Django's
//     save would raise on it (a string that is not a date, a list...).
func ExpiryAge(sessionJSON []byte, at time.Time, cookieAge time.Duration) (time.Duration, error) {
	raw, ok := codec.Member(sessionJSON, sessionExpiryKey)
	if !ok || falsyJSON(raw) {
		return cookieAge, nil
	}
	raw = bytes.TrimSpace(raw)
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("%w: _session_expiry %s %s", codec.ErrInvalidSession, clip(raw), why)
	}
	switch {
	case string(raw) == "true":
		return time.Second, nil
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		f, _, err := big.ParseFloat(string(raw), 10, 64, big.ToZero)
		if err != nil {
			return bad("is not a number Django reads")
		}
		ns, _ := new(big.Float).Mul(f, big.NewFloat(float64(time.Second))).Int64()
		if d := time.Duration(ns); d <= maxExpiryAge && d >= -maxExpiryAge {
			return d, nil
		}
		return bad("is out of range")
	}
	t, ok := datetimeOf(raw)
	if !ok {
		return bad("is neither a number nor a datetime: Django cannot compute an expiry age from it")
	}
	d := t.Sub(at)
	if d > maxExpiryAge || d < -maxExpiryAge {
		return bad("is out of range")
	}
	secs := d / time.Second
	if d < 0 && d%time.Second != 0 {
		secs-- // timedelta rounds towards the past
	}
	return secs * time.Second, nil
}

// datetimeOf reads a datetime member value: an ISO-8601 string or a
// tagged {"$datetime": ...}.
func datetimeOf(raw []byte) (time.Time, bool) {
	var text string
	switch raw[0] {
	case '"':
		if json.Unmarshal(raw, &text) != nil {
			return time.Time{}, false
		}
	case '{':
		var tagged map[string]json.RawMessage
		if json.Unmarshal(raw, &tagged) != nil || len(tagged) != 1 {
			return time.Time{}, false
		}
		v, ok := tagged["$datetime"]
		if !ok || json.Unmarshal(v, &text) != nil {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	return parseISOTime(text)
}

// clip shortens a JSON value for an error message.
func clip(raw []byte) string {
	if len(raw) > 64 {
		return string(raw[:61]) + "..."
	}
	return string(raw)
}
