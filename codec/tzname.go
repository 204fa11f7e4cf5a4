package codec

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Named time zones. A datetime whose tzinfo is pytz.utc or a
// zoneinfo.ZoneInfo reads as {"$datetime": "<isoformat>[<zone>]"}: the
// isoformat() Python prints, then the zone in brackets, as RFC 9557 suffixes
// a time zone name. "[pytz.utc]" is pytz's UTC; any other name is the
// zoneinfo key. The offset is what Python's utcoffset() gives at that wall
// time; writing checks it against the zone and derives the fold from it.

const pytzUTCName = "pytz.utc"

// zoneKey accepts the shape of IANA zone names ("UTC", "Europe/Paris",
// "Etc/GMT+5", "America/Port-au-Prince"): never a path that could leave the
// zone directory, never Go's special "Local".
var zoneKey = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)

var zoneCache sync.Map // key -> *time.Location; only zones that loaded

// loadZone reads a zone from the system's tz database, the one Python's
// zoneinfo reads on the same machine.
func loadZone(key string) (*time.Location, error) {
	if !zoneKey.MatchString(key) || key == "Local" {
		return nil, fmt.Errorf("%q is not a time zone name", key)
	}
	if loc, ok := zoneCache.Load(key); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(key)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %v", key, err)
	}
	zoneCache.Store(key, loc)
	return loc, nil
}

// namedZone returns the offset and suffix of a datetime in a named zone,
// false when tz is not one (or is one this machine does not know).
func namedZone(tz any, d *pyDatetime) (*pyTimedelta, string, bool) {
	switch z := tz.(type) {
	case *pyPytzUTC:
		return &pyTimedelta{}, "[" + pytzUTCName + "]", true
	case *pyZoneInfo:
		if z.fromCache != 1 {
			return nil, "", false // ZoneInfo.no_cache(): not what the suffix writes back
		}
		loc, err := loadZone(z.key)
		if err != nil {
			return nil, "", false
		}
		off := zoneOffset(loc, d.year, d.month, d.day, d.hour, d.minute, d.second, d.fold)
		return secondsDelta(off), "[" + z.key + "]", true
	}
	return nil, "", false
}

func secondsDelta(s int64) *pyTimedelta {
	td := &pyTimedelta{days: floorDiv(s, 86400)}
	td.seconds = s - td.days*86400
	return td
}

// zoneOffset is zoneinfo's utcoffset() of a wall time, in seconds (PEP 495):
// an ambiguous time (clocks set back) has the earlier offset with fold 0 and
// the later with fold 1; a time in a gap (clocks set forward) has the offset
// from before the transition with fold 0, from after it with fold 1.
func zoneOffset(loc *time.Location, y, mo, d, h, mi, s int, fold bool) int64 {
	wall := time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC).Unix()
	at := func(t int64) int64 {
		_, off := time.Unix(t, 0).In(loc).Zone()
		return int64(off)
	}
	before, after := at(wall-2*86400), at(wall+2*86400)
	if before == after {
		return at(wall - before)
	}
	okBefore, okAfter := at(wall-before) == before, at(wall-after) == after
	switch {
	case okBefore && !okAfter:
		return before
	case okAfter && !okBefore:
		return after
	case fold: // ambiguous or in the gap
		return after
	}
	return before
}

// splitZone cuts "<isoformat>[zone]" into its parts; zone is "" without brackets.
func splitZone(s string) (iso, zone string, err error) {
	i := strings.IndexByte(s, '[')
	if i < 0 {
		return s, "", nil
	}
	if !strings.HasSuffix(s, "]") || i == len(s)-2 {
		return "", "", fmt.Errorf("%q: a time zone goes in brackets at the end, as in 2024-01-02T04:05:06+01:00[Europe/Paris]", s)
	}
	return s[:i], s[i+1 : len(s)-1], nil
}

// inZone checks a parsed datetime's offset against a named zone at its wall
// time, and sets the fold that offset means (the later of two ambiguous
// times, or the far side of a gap).
func (pt *parsedISO) inZone(zone string) error {
	if pt.offset == nil {
		return fmt.Errorf("a datetime in %s needs its UTC offset, as in 2024-01-02T04:05:06+01:00[%s]", zone, zone)
	}
	given := pt.offset.total()
	if zone == pytzUTCName {
		if given != 0 {
			return fmt.Errorf("a datetime in %s has the offset +00:00", zone)
		}
		return nil
	}
	loc, err := loadZone(zone)
	if err != nil {
		return err
	}
	b := pt.state
	y, mo, d := int(b[0])<<8|int(b[1]), int(b[2]), int(b[3])
	h, mi, s := int(b[4]), int(b[5]), int(b[6])
	off0 := zoneOffset(loc, y, mo, d, h, mi, s, false)
	off1 := zoneOffset(loc, y, mo, d, h, mi, s, true)
	switch given {
	case off0 * 1e6:
	case off1 * 1e6:
		b[2] |= 0x80 // fold=1
	default:
		return fmt.Errorf("%s is at %s at that time, not %s", zone, formatOffset(secondsDelta(off0)), formatOffset(pt.offset))
	}
	return nil
}
