package store

import (
	"bytes"
	"encoding/json"
	"math/big"
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
func parseISOTime(text string) (time.Time, bool) {
	text = strings.TrimSpace(text)
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, text); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
