package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// AlwaysExpired is the Expiry of a session whose integer _session_expiry is
// negative: Django's get_expiry_age returns the integer itself, so such a
// session is expired whatever the time. It is the Unix epoch, which every
// Meta.Expired call treats as past.
var AlwaysExpired = time.Unix(0, 0).UTC()

const sessionExpiryKey = "_session_expiry"

// withoutZoneName drops the zone name in brackets that the codec writes
// after a pickled aware datetime's offset ("...+01:00[Europe/Paris]",
// "...+00:00[pytz.utc]"): the offset already gives the instant.
func withoutZoneName(text string) string {
	if i := strings.IndexByte(text, '['); i > 0 && strings.HasSuffix(text, "]") {
		return text[:i]
	}
	return text
}

// ExpiryOf computes when Django 3.2's load() would find the session
// expired, from the decoded session JSON and when it was last saved (the
// file backend: the file's mtime):
//
//   - _session_expiry falsy (absent, null, false, 0, "", [] or {}):
//     saved + SESSION_COOKIE_AGE;
//   - a datetime (pickled, tagged {"$datetime": "..."} by the codec) or an
//     ISO-8601 string (what Django 4.1+ stores): that instant; naive values
//     are taken as UTC (Django compares them in local time with USE_TZ=False
//     and raises with USE_TZ=True);
//   - a number N: Django's age is N itself, so never expired when N > 0 and
//     always expired when N < 0 (AlwaysExpired);
//   - anything else (true, a string that is not a date, a list...): never
//     (Django 3.2 either keeps it or raises TypeError; it never deletes it).
//
// The zero time means never expires.
func ExpiryOf(sessionJSON []byte, saved time.Time, cookieAge time.Duration) time.Time {
	raw, ok := codec.Member(sessionJSON, sessionExpiryKey)
	if !ok || falsyJSON(raw) {
		return saved.Add(cookieAge)
	}
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '"':
		var text string
		if json.Unmarshal(raw, &text) == nil {
			if t, ok := parseISOTime(withoutZoneName(text)); ok {
				return t
			}
		}
		return time.Time{}
	case '{':
		var tagged map[string]json.RawMessage
		if json.Unmarshal(raw, &tagged) == nil {
			var text string
			if v, ok := tagged["$datetime"]; ok && json.Unmarshal(v, &text) == nil {
				if t, ok := parseISOTime(withoutZoneName(text)); ok {
					return t
				}
			}
		}
		return time.Time{}
	case '-':
		return AlwaysExpired // a negative number (zero is falsy, handled above)
	}
	return time.Time{}
}

// maxExpiryAge bounds a numeric _session_expiry: beyond it the date would
// not fit a time.Duration (Python refuses a little further, past year 9999).
const maxExpiryAge = 9e9 // seconds, about 285 years

// ExpiryAge is the relative part of Django's get_expiry_date(): the age a
// save gives the session. _session_expiry falsy: SESSION_COOKIE_AGE; a
// number N: N seconds (negative ones give an expired session); true: one
// second (Python's True is 1). It reports false when the expiry is an
// absolute date, or a value no Django save accepts.
func ExpiryAge(sessionJSON []byte, cookieAge time.Duration) (time.Duration, bool) {
	raw, ok := codec.Member(sessionJSON, sessionExpiryKey)
	if !ok || falsyJSON(raw) {
		return cookieAge, true
	}
	raw = bytes.TrimSpace(raw)
	switch {
	case string(raw) == "true":
		return time.Second, true
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		secs, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsInf(secs, 0) || math.Abs(secs) > maxExpiryAge {
			return 0, false
		}
		return time.Duration(math.Round(secs*1e6)) * time.Microsecond, true // timedelta keeps microseconds
	}
	return 0, false
}

// ExpiryDate is Django's get_expiry_date() for a save at now: what the db
// backend writes as expire_date. _session_expiry falsy: now +
// SESSION_COOKIE_AGE; a number N: now + N seconds; a datetime (tagged by
// the codec) or an ISO-8601 string (Django 4.1+): that instant, a naive
// one read as wall clock in loc (Django's TIME_ZONE, in which it stores
// naive datetimes). Any other value makes Django's save raise: it is
// refused with an error wrapping codec.ErrInvalidSession, since a session
// holding it could no longer be saved by the site.
func ExpiryDate(sessionJSON []byte, now time.Time, cookieAge time.Duration, loc *time.Location) (time.Time, error) {
	if age, ok := ExpiryAge(sessionJSON, cookieAge); ok {
		return now.Add(age), nil
	}
	raw, _ := codec.Member(sessionJSON, sessionExpiryKey)
	raw = bytes.TrimSpace(raw)
	var text string
	switch raw[0] {
	case '"':
		if json.Unmarshal(raw, &text) != nil {
			text = ""
		}
	case '{':
		var tagged map[string]json.RawMessage
		if json.Unmarshal(raw, &tagged) == nil && len(tagged) == 1 {
			if v, ok := tagged["$datetime"]; ok && json.Unmarshal(v, &text) != nil {
				text = ""
			}
		}
	}
	if text != "" {
		// The codec tags a pickled aware datetime with its zone's name:
		// "2026-11-26T19:44:32+00:00[pytz.utc]".
		if i := strings.LastIndexByte(text, '['); i > 0 && strings.HasSuffix(text, "]") {
			if zone, err := time.LoadLocation(text[i+1 : len(text)-1]); err == nil {
				loc = zone
			}
			text = text[:i]
		}
		if t, ok := parseISOTimeIn(text, loc); ok {
			return t, nil
		}
	}
	shown := string(raw)
	if len(shown) > 64 {
		shown = shown[:64] + "..."
	}
	return time.Time{}, fmt.Errorf("%w: _session_expiry %s is neither a number nor a date: Django cannot compute an expiry date from it",
		codec.ErrInvalidSession, shown)
}

// falsyJSON reports whether a JSON value is false in Python's sense.
func falsyJSON(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	switch string(raw) {
	case "", "null", "false", `""`, "[]", "{}":
		return true
	}
	if raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
		f, _, err := big.ParseFloat(string(raw), 10, 64, big.ToNearestEven)
		return err == nil && f.Sign() == 0
	}
	if raw[0] == '[' || raw[0] == '{' {
		// An empty container may have inner whitespace: "[ ]".
		var v any
		if json.Unmarshal(raw, &v) == nil {
			switch v := v.(type) {
			case []any:
				return len(v) == 0
			case map[string]any:
				return len(v) == 0
			}
		}
	}
	return false
}

// isoLayouts are the shapes datetime.isoformat() produces (with and without
// microseconds and offset), plus a space separator as str(datetime) gives.
var isoLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseISOTime parses an ISO-8601 date-time; a value without an offset is
// taken as UTC.
func parseISOTime(text string) (time.Time, bool) { return parseISOTimeIn(text, time.UTC) }

// parseISOTimeIn parses an ISO-8601 date-time; a value without an offset is
// wall clock in loc (nil: UTC).
func parseISOTimeIn(text string, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	text = strings.TrimSpace(text)
	for _, layout := range isoLayouts {
		if t, err := time.ParseInLocation(layout, text, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
