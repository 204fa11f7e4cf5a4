package store

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestExpiryOf(t *testing.T) {
	s, _ := newTestStore(t)
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
		{`{"_session_expiry": "next tuesday"}`, never},
		{`{"_session_expiry": {"$timedelta": {"days": 1}}}`, never},
		{`{"other": 1, "_session_expiry": {"$datetime": "2021-01-01T00:00:00Z"}}`, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got := s.expiryOf([]byte(tt.session), mtime)
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

func TestClearExpired(t *testing.T) {
	now := time.Now()
	s, _ := newTestStore(t, func(c *Config) { c.Now = func() time.Time { return now } })
	ctx := context.Background()
	old := now.Add(-DefaultCookieAge - time.Minute)
	recent := now.Add(-time.Hour)
	type fixture struct {
		key, session string // session "" = empty placeholder; "raw:" prefix = raw bytes
		mtime        time.Time
		expired      bool
	}
	fixtures := []fixture{
		{"freshplain", `{"a":1}`, recent, false},
		{"oldplain0", `{"a":1}`, old, true},
		{"oldexpiryint", `{"_session_expiry":300}`, old, false},
		{"recentnegint", `{"_session_expiry":-5}`, recent, true},
		{"oldzeroexpiry", `{"_session_expiry":0}`, old, true},
		{"recentzeroexp", `{"_session_expiry":0}`, recent, false},
		{"futureiso01", `{"_session_expiry":"2999-01-01T00:00:00+00:00"}`, old, false},
		{"pastiso0001", `{"_session_expiry":"2001-01-01T00:00:00+00:00"}`, recent, true},
		{"emptyplaceholder", "", old, false},
		{"oldbadsig01", "raw:" + readTestdata(t, keyOtherSite), old, true},
		{"newbadsig01", "raw:" + readTestdata(t, keyOtherSite), recent, false},
		{"oldgarbage1", "raw:garbage", old, true},
		{"justexpired", `{"a":1}`, now.Add(-DefaultCookieAge + 500*time.Millisecond), true},     // age 0.5s -> 0
		{"notyetexpired", `{"a":1}`, now.Add(-DefaultCookieAge + 1500*time.Millisecond), false}, // age 1
	}
	var want []string
	for _, f := range fixtures {
		switch {
		case f.session == "":
			writeRaw(t, s, f.key, nil)
		case strings.HasPrefix(f.session, "raw:"):
			writeRaw(t, s, f.key, []byte(strings.TrimPrefix(f.session, "raw:")))
		default:
			save(t, s, f.key, f.session)
		}
		setMtime(t, s.path(f.key), f.mtime)
		if f.expired {
			want = append(want, f.key)
		}
	}
	sort.Strings(want)
	before := snapshot(t, s.cfg.Dir)
	dry, err := s.ClearExpired(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	assertSameSnapshot(t, before, snapshot(t, s.cfg.Dir))
	sort.Strings(dry.Removed)
	if strings.Join(dry.Removed, " ") != strings.Join(want, " ") || dry.Scanned != len(fixtures) {
		t.Errorf("dry run: %d scanned, would remove %v; want %d, %v", dry.Scanned, dry.Removed, len(fixtures), want)
	}
	res, err := s.ClearExpired(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(res.Removed)
	if strings.Join(res.Removed, " ") != strings.Join(want, " ") {
		t.Errorf("removed %v, want %v", res.Removed, want)
	}
	for _, f := range fixtures {
		ok, err := s.Exists(ctx, f.key)
		if err != nil || ok == f.expired {
			t.Errorf("%s: exists=%v (%v) after clear, expired=%v", f.key, ok, err, f.expired)
		}
	}
}

func readTestdata(t testing.TB, key string) string {
	t.Helper()
	data, err := readFileString("testdata/sessionid" + key)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
