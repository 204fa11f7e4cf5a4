package dbstore

import (
	"strings"
	"testing"
	"time"
)

func mustZone(t *testing.T, c Config) *time.Location {
	t.Helper()
	loc, err := naiveZone(c)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// The naive expire_date of SQLite and MySQL is written in the zone Django
// uses (§1.3 of the backends spec), in Python's str(datetime) form.
func TestClockNaiveValues(t *testing.T) {
	at := time.Date(2026, 12, 9, 19, 43, 29, 736550_000, time.UTC)
	paris := time.FixedZone("", 3600)
	_ = paris
	for _, tc := range []struct {
		name   string
		cfg    Config
		digits int
		at     time.Time
		want   string
	}{
		{"sqlite USE_TZ", Config{Engine: SQLite, UseTZ: true}, 6, at, "2026-12-09 19:43:29.736550"},
		{"sqlite USE_TZ whole second", Config{Engine: SQLite, UseTZ: true}, 6, at.Truncate(time.Second), "2026-12-09 19:43:29"},
		{"sqlite USE_TZ=False Paris", Config{Engine: SQLite, TimeZone: "Europe/Paris"}, 6, at, "2026-12-09 20:43:29.736550"},
		{"sqlite database TIME_ZONE", Config{Engine: SQLite, UseTZ: true, DBTimeZone: "America/New_York"}, 6, at, "2026-12-09 14:43:29.736550"},
		{"mysql USE_TZ", Config{Engine: MySQL, UseTZ: true}, 6, at.Truncate(time.Second), "2026-12-09 19:43:29.000000"},
		{"mysql datetime(0)", Config{Engine: MySQL, UseTZ: true}, 0, at, "2026-12-09 19:43:29"},
		{"mysql datetime(3) Paris", Config{Engine: MySQL, TimeZone: "Europe/Paris"}, 3, at, "2026-12-09 20:43:29.736"},
		{"mysql summer Paris", Config{Engine: MySQL, TimeZone: "Europe/Paris"}, 6, time.Date(2026, 7, 1, 12, 0, 0, 1000, time.UTC), "2026-07-01 14:00:00.000001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clock{engine: tc.cfg.Engine, loc: mustZone(t, tc.cfg), digits: tc.digits}
			got := c.arg(tc.at)
			if got != tc.want {
				t.Fatalf("arg = %q, want %q", got, tc.want)
			}
			st := c.read(tc.want)
			if want := tc.at.Truncate(c.quantum()); !st.at.Equal(want) {
				t.Errorf("read(%q) = %v, want %v", tc.want, st.at, want)
			}
			if w := c.written(tc.at); w.key != st.key || w.arg != st.arg {
				t.Errorf("written %+v and read %+v of the same value differ", w, st)
			}
			// What a driver returns as bytes reads the same.
			if b := c.read([]byte(tc.want)); b.key != st.key {
				t.Errorf("read([]byte) key %q, read(string) key %q", b.key, st.key)
			}
		})
	}
}

func TestClockPostgresInstants(t *testing.T) {
	c := clock{engine: PostgreSQL, digits: 6}
	paris, _ := time.LoadLocation("Europe/Paris")
	at := time.Date(2026, 12, 9, 20, 57, 9, 822774_900, paris)
	arg := c.arg(at).(time.Time)
	if !arg.Equal(at.Truncate(time.Microsecond)) || arg.Location() != time.UTC {
		t.Errorf("arg = %v", arg)
	}
	// pgx hands back the instant in time.Local; the version key is the same.
	if c.read(arg.In(paris)).key != c.written(at).key {
		t.Error("the same instant in two zones gives two versions")
	}
}

func TestClockUnparsable(t *testing.T) {
	c := clock{engine: MySQL, loc: time.UTC, digits: 6}
	st := c.read("0000-00-00 00:00:00")
	if !st.at.IsZero() || st.arg != "0000-00-00 00:00:00" {
		t.Errorf("zero date read as %+v", st)
	}
	if st := c.read(nil); !st.at.IsZero() {
		t.Errorf("NULL read as %+v", st)
	}
	s := clock{engine: SQLite, loc: time.UTC, digits: 6}
	if st := s.read("2026-12-09T19:43:29.5"); st.at.IsZero() || st.arg != "2026-12-09T19:43:29.5" {
		t.Errorf("T-separated text read as %+v (the stored text must be kept for compare-and-set)", st)
	}
}

func TestNaiveZoneRules(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // zone name, or an error substring
	}{
		{Config{Engine: PostgreSQL}, "<nil>"},
		{Config{Engine: SQLite, UseTZ: true}, "UTC"},
		{Config{Engine: MySQL, UseTZ: true, DBTimeZone: "Europe/Paris"}, "Europe/Paris"},
		{Config{Engine: MySQL, TimeZone: "Asia/Tokyo"}, "Asia/Tokyo"},
		{Config{Engine: MySQL, UseTZ: true, TimeZone: "Asia/Tokyo"}, "UTC"},
		{Config{Engine: SQLite}, "TIME_ZONE is needed"},
		{Config{Engine: SQLite, TimeZone: "UTC", DBTimeZone: "UTC"}, "needs USE_TZ"},
		{Config{Engine: SQLite, TimeZone: "Mars/Olympus"}, "Mars/Olympus"},
	} {
		loc, err := naiveZone(tc.cfg)
		got := "<nil>"
		switch {
		case err != nil:
			got = err.Error()
		case loc != nil:
			got = loc.String()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("naiveZone(%+v) = %q, want %q", tc.cfg, got, tc.want)
		}
	}
}
