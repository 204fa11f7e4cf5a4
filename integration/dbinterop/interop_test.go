package dbinterop

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/store/dbstore"
)

// interopSites are the site configurations the round trips run on: every
// Django version, USE_TZ on (the default of new projects) and off, and a
// database TIME_ZONE, which change what SQLite and MySQL store.
func interopSites() []siteOptions {
	return []siteOptions{
		{django: "3.2"},
		{django: "3.2", noTZ: true, timeZone: "Europe/Paris"},
		{django: "4.2", dbTimeZone: "America/New_York"},
		{django: "5.2", noTZ: true, timeZone: "Asia/Kolkata"},
	}
}

// TestDjangoAndSessionfsShareRows: rows Django writes read back through
// dbstore exactly (session_data decodes to what Django saved, expire_date
// is the instant Django's model reports), and rows dbstore writes load in
// Django exactly, expiring when Django says they do. The naive time
// variants catch any zone error: the sessions expiring 30 minutes either
// side of now would swap sides under an offset of an hour or more.
func TestDjangoAndSessionfsShareRows(t *testing.T) {
	for _, engine := range engines {
		for _, o := range interopSites() {
			if engine == dbstore.PostgreSQL {
				// PostgreSQL stores instants: a database TIME_ZONE only sets
				// the connection's zone, which this test does not look at.
				o.dbTimeZone = ""
			}
			t.Run(o.name(engine), func(t *testing.T) {
				t.Parallel() // each site has its own database; Django's start-up dominates
				testShareRows(t, engine, o)
			})
		}
	}
}

func testShareRows(t *testing.T, engine dbstore.Engine, o siteOptions) {
	ctx := context.Background()
	s := newSite(t, engine, o)

	// Django writes.
	abs := time.Now().Add(26 * time.Hour).Truncate(time.Microsecond).UTC()
	djSessions := map[string]string{
		keyOf("login", 1):    `{"_auth_user_id": "42", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend", "_auth_user_hash": "0123456789abcdef0123456789abcdef01234567", "cart": [1, 2, 3, 4]}`,
		keyOf("fixedkey", 1): `{"_auth_user_id": "7", "note": "café ☃", "_session_expiry": 300}`,
		keyOf("browser", 1):  `{"k": "v", "_session_expiry": 0}`,
		keyOf("expired", 1):  `{"k": "old", "_session_expiry": -60}`,
	}
	wantAge := map[string]time.Duration{
		keyOf("login", 1): 1209600 * time.Second, keyOf("fixedkey", 1): 300 * time.Second,
		keyOf("browser", 1): 1209600 * time.Second, keyOf("expired", 1): -60 * time.Second,
	}
	if o.django != "3.2" {
		// 4.1+ stores set_expiry(datetime) as an ISO string; with USE_TZ=False
		// Django's datetimes are naive local time.
		iso := abs.Format("2006-01-02T15:04:05.999999-07:00")
		if o.noTZ {
			loc, _ := time.LoadLocation(o.timeZone)
			iso = abs.In(loc).Format("2006-01-02T15:04:05.999999")
		}
		djSessions[keyOf("absolute", 1)] = fmt.Sprintf(`{"_session_expiry": %q}`, iso)
	}
	before := time.Now()
	s.djangoSave(true, djSessions)
	after := time.Now()

	djRows := s.djangoRows()
	rows := s.all()
	if len(rows) != len(djSessions) || len(djRows) != len(djSessions) {
		t.Fatalf("dbstore sees %d rows, Django %d, saved %d", len(rows), len(djRows), len(djSessions))
	}
	now := time.Now()
	for key, js := range djSessions {
		r, dj := rows[key], djRows[key]
		if r.Data != dj.Data {
			t.Errorf("%s: session_data differs:\n dbstore %q\n  django %q", key, r.Data, dj.Data)
		}
		sameJSON(t, key+" decoded", s.decode(r.Data), js)
		if want := s.djangoInstant(dj.ExpireDate); !r.ExpireDate.Equal(want) {
			t.Errorf("%s: expire_date %v, Django's model says %v (stored %q)", key, r.ExpireDate, want, s.storedExpire(key))
		}
		if age, ok := wantAge[key]; ok {
			lo, hi := before.Add(age).Add(-time.Millisecond), after.Add(age).Add(time.Millisecond)
			if r.ExpireDate.Before(lo) || r.ExpireDate.After(hi) {
				t.Errorf("%s: expire_date %v outside [%v, %v] (stored %q)", key, r.ExpireDate, lo, hi, s.storedExpire(key))
			}
		} else if !r.ExpireDate.Equal(abs) {
			t.Errorf("%s: expire_date %v, set_expiry gave %v", key, r.ExpireDate, abs)
		}
		if got, want := r.Expired(now), key == keyOf("expired", 1); got != want {
			t.Errorf("%s: Expired = %v", key, got)
		}
		g, err := s.store.Get(ctx, key)
		if err != nil || !g.Version.Equal(r.Version) {
			t.Errorf("%s: Get %+v %v differs from the scan", key, g, err)
		}
	}

	// sessionfs writes: new rows, and an edit of Django's row.
	now = time.Now()
	goSessions := map[string]struct {
		js     string
		expire time.Time
	}{
		keyOf("gowrite", 1): {`{"_auth_user_id": "99", "written_by": "sessionfs", "note": "café ☃", "n": 7}`, now.Add(time.Hour + 123456789)},
		keyOf("gosoon", 1):  {`{"k": "expires in 30 minutes"}`, now.Add(30 * time.Minute)},
		keyOf("golate", 1):  {`{"k": "expired 30 minutes ago"}`, now.Add(-30 * time.Minute)},
		keyOf("login", 1):   {`{"_auth_user_id": "42", "edited": true}`, now.Add(2 * time.Hour)},
	}
	for key, g := range goSessions {
		var err error
		if old, ok := rows[key]; ok {
			_, err = s.store.UpdateIf(ctx, key, old.Version, s.encode(g.js), g.expire)
		} else {
			_, err = s.store.Insert(ctx, key, s.encode(g.js), g.expire)
		}
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	keys := []string{keyOf("gowrite", 1), keyOf("gosoon", 1), keyOf("golate", 1), keyOf("login", 1)}
	loads := s.djangoLoad(keys...)
	djRows = s.djangoRows(keys...)
	for i, key := range keys {
		g, l := goSessions[key], loads[i]
		if !l.OK || !l.Existed {
			t.Errorf("%s: Django load %+v", key, l)
			continue
		}
		if key == keyOf("golate", 1) {
			if string(l.Data) != "{}" || l.KeyKept {
				t.Errorf("%s: expired 30 minutes ago, Django loaded %s (key kept %v)", key, l.Data, l.KeyKept)
			}
		} else {
			if !l.KeyKept {
				t.Errorf("%s: Django dropped the key", key)
			}
			sameJSON(t, key+" loaded by Django", string(l.Data), g.js)
		}
		if got, want := s.djangoInstant(djRows[key].ExpireDate), g.expire.Truncate(time.Microsecond); !got.Equal(want) {
			t.Errorf("%s: Django reads expire_date %v, sessionfs wrote %v (stored %q)", key, got, want, s.storedExpire(key))
		}
	}
	// Django's data wins over nothing: the rows Django did not touch are
	// as it wrote them.
	if r, err := s.store.Get(ctx, keyOf("fixedkey", 1)); err != nil || r.Data != rows[keyOf("fixedkey", 1)].Data {
		t.Errorf("untouched row changed: %+v %v", r, err)
	}

}
