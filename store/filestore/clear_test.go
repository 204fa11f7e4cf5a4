package filestore

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

func TestClearExpired(t *testing.T) {
	now := time.Now()
	s, _ := newTestStore(t, func(c *Config) { c.Now = func() time.Time { return now } })
	ctx := context.Background()
	old := now.Add(-store.DefaultCookieAge - time.Minute)
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
		{"justexpired", `{"a":1}`, now.Add(-store.DefaultCookieAge + 500*time.Millisecond), true},     // age 0.5s -> 0
		{"notyetexpired", `{"a":1}`, now.Add(-store.DefaultCookieAge + 1500*time.Millisecond), false}, // age 1
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
	dry, err := s.ClearExpired(ctx, store.ClearOptions{DryRun: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertSameSnapshot(t, before, snapshot(t, s.cfg.Dir))
	sort.Strings(dry.Removed)
	if strings.Join(dry.Removed, " ") != strings.Join(want, " ") || dry.Scanned != len(fixtures) {
		t.Errorf("dry run: %d scanned, would remove %v; want %d, %v", dry.Scanned, dry.Removed, len(fixtures), want)
	}
	res, err := s.ClearExpired(ctx, store.ClearOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(res.Removed)
	if strings.Join(res.Removed, " ") != strings.Join(want, " ") {
		t.Errorf("removed %v, want %v", res.Removed, want)
	}
	for _, f := range fixtures {
		_, err := os.Lstat(s.path(f.key))
		if ok := err == nil; ok == f.expired {
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
