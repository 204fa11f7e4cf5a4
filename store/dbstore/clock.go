package dbstore

import (
	"fmt"
	"strings"
	"time"
)

// clock converts expire_date between the instants sessionfs computes and
// what the column holds, as Django's database operations do:
//
//   - PostgreSQL: timestamp with time zone, an instant; zones do not matter.
//   - SQLite and MySQL: a naive wall clock. With USE_TZ it is UTC, or the
//     database's own TIME_ZONE when set; without USE_TZ it is the site's
//     TIME_ZONE (Django's timezone.now() is then local time).
//
// SQLite keeps the value as TEXT in Python's str(datetime) form and compares
// it as text, so sessionfs writes exactly that form; MySQL's DATETIME(n)
// keeps n fractional digits, so values are truncated to n before writing and
// what the server stores is what sessionfs wrote.
type clock struct {
	engine Engine
	loc    *time.Location // zone of naive values; nil on PostgreSQL
	digits int            // fractional second digits the column keeps
}

// naiveZone is the zone Django reads and writes naive datetimes in.
func naiveZone(c Config) (*time.Location, error) {
	if c.Engine == PostgreSQL {
		return nil, nil
	}
	if !c.UseTZ {
		if c.DBTimeZone != "" {
			// Django refuses this combination (ImproperlyConfigured).
			return nil, fmt.Errorf("a database TIME_ZONE (%q) needs USE_TZ: Django refuses it when USE_TZ is False", c.DBTimeZone)
		}
		if c.TimeZone == "" {
			return nil, fmt.Errorf("USE_TZ is False: the site's TIME_ZONE is needed to read %s's naive expire_date", c.Engine)
		}
		loc, err := time.LoadLocation(c.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("TIME_ZONE %q: %w", c.TimeZone, err)
		}
		return loc, nil
	}
	if c.DBTimeZone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(c.DBTimeZone)
	if err != nil {
		return nil, fmt.Errorf("database TIME_ZONE %q: %w", c.DBTimeZone, err)
	}
	return loc, nil
}

const (
	naiveLayout = "2006-01-02 15:04:05"
	pyFraction  = ".000000"
)

// quantum is the column's resolution.
func (c clock) quantum() time.Duration {
	d := time.Second
	for range c.digits {
		d /= 10
	}
	return d
}

// arg is the statement argument for instant t, at the column's resolution.
func (c clock) arg(t time.Time) any {
	t = t.Truncate(c.quantum())
	switch c.engine {
	case PostgreSQL:
		return t.UTC()
	case SQLite:
		// Python's str(datetime): the fraction only when it is not zero.
		s := t.In(c.loc).Format(naiveLayout)
		if us := t.Nanosecond() / 1000; us != 0 {
			s += fmt.Sprintf(".%06d", us)
		}
		return s
	default: // MySQL: the server's own rendering of DATETIME(digits)
		s := t.In(c.loc).Format(naiveLayout)
		if c.digits > 0 {
			s += t.Format(pyFraction[:c.digits+1])
		}
		return s
	}
}

// stamp is one expire_date value as read or written: the instant, the
// argument that matches the stored value exactly, and a canonical text for
// comparing versions.
type stamp struct {
	at  time.Time // UTC; zero when the stored value is not a datetime
	arg any
	key string
}

// written is the stamp of what arg(t) stores.
func (c clock) written(t time.Time) stamp {
	a := c.arg(t)
	return c.read(a)
}

// read interprets a value scanned from the column: time.Time from pgx,
// text from SQLite (selected as TEXT) and MySQL (no parseTime).
func (c clock) read(v any) stamp {
	switch v := v.(type) {
	case time.Time:
		at := v.UTC()
		return stamp{at: at, arg: at, key: at.Format(time.RFC3339Nano)}
	case nil:
		return stamp{arg: nil, key: "NULL"}
	case []byte:
		return c.readText(string(v))
	case string:
		return c.readText(v)
	default:
		s := fmt.Sprint(v)
		return stamp{arg: s, key: "?" + s}
	}
}

func (c clock) readText(s string) stamp {
	st := stamp{arg: s, key: s}
	if c.engine == PostgreSQL {
		return st
	}
	// Django writes "YYYY-MM-DD HH:MM:SS[.ffffff]"; SQLite's own functions
	// and other writers may use a T separator.
	t, err := time.ParseInLocation(naiveLayout+".999999999", strings.Replace(s, "T", " ", 1), c.loc)
	if err != nil {
		return st
	}
	st.at = t.UTC()
	if c.engine == MySQL {
		// MySQL compares the DATETIME, not the text: versions compare instants.
		st.key = st.at.Format(time.RFC3339Nano)
	}
	return st
}
