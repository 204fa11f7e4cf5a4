package dbinterop

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// sessions is the site's table behind the store contract, as the mount and
// the CLI will use it. The site's cleanup closes the database.
func (s *site) sessions() *dbstore.Sessions {
	s.t.Helper()
	ss, err := dbstore.NewSessions(s.store, dbstore.SessionConfig{Codec: s.codec})
	if err != nil {
		s.t.Fatal(err)
	}
	return ss
}

// TestContractWithDjango: Django and the store contract on the same table,
// each engine. What Django writes, Scan and Load show exactly, expiring
// when Django's load() says; what Save, RemoveIf, Renew and Rename do,
// Django's load() and exists() agree with; a Django save between a Load
// and a guarded Save is a conflict that loses nothing; ClearExpired
// removes what clearsessions would, no more.
func TestContractWithDjango(t *testing.T) {
	for _, tc := range []struct {
		engine dbstore.Engine
		o      siteOptions
	}{
		{dbstore.SQLite, siteOptions{django: "3.2"}},
		{dbstore.PostgreSQL, siteOptions{django: "3.2"}},
		{dbstore.MySQL, siteOptions{django: "3.2"}},
		// Naive expire_date in TIME_ZONE, and Django 4.2's ISO _session_expiry.
		{dbstore.SQLite, siteOptions{django: "4.2", noTZ: true, timeZone: "America/Sao_Paulo"}},
	} {
		t.Run(tc.o.name(tc.engine), func(t *testing.T) {
			t.Parallel() // each site has its own database; Django's start-up dominates
			testContractWithDjango(t, tc.engine, tc.o)
		})
	}
}

func testContractWithDjango(t *testing.T, engine dbstore.Engine, o siteOptions) {
	ctx := context.Background()
	s := newSite(t, engine, o)
	ss := s.sessions()
	age := ss.Config().CookieAge

	// Django writes.
	dj := map[string]string{
		keyOf("login", 1):    `{"_auth_user_id": "42", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend", "cart": [1, 2]}`,
		keyOf("login", 2):    `{"_auth_user_id": "42", "n": 2}`,
		keyOf("short", 1):    `{"_auth_user_id": "7", "_session_expiry": 300}`,
		keyOf("browser", 1):  `{"k": "v", "_session_expiry": 0}`,
		keyOf("expired", 1):  `{"_auth_user_id": "42", "_session_expiry": -60}`,
		keyOf("expired", 2):  `{"k": "old", "_session_expiry": -3600}`,
		keyOf("edit", 1):     `{"_auth_user_id": "5", "step": 1}`,
		keyOf("remove", 1):   `{"_auth_user_id": "5"}`,
		keyOf("renew", 1):    `{"k": "renew me"}`,
		keyOf("rename", 1):   `{"_auth_user_id": "8", "k": "move me"}`,
		keyOf("conflict", 1): `{"_auth_user_id": "9", "by": "django", "n": 1}`,
	}
	s.djangoSave(true, dj)
	djRows := s.djangoRows()
	now := time.Now()
	entries := map[string]store.Entry{}
	if err := ss.Scan(ctx, func(e store.Entry) error { entries[e.Key] = e; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(dj) {
		t.Fatalf("Scan lists %d sessions, Django wrote %d", len(entries), len(dj))
	}
	for k, js := range dj {
		e := entries[k]
		sess, err := ss.Load(ctx, k)
		if e.Err != nil || err != nil {
			t.Errorf("%s: scan %v, load %v", k, e.Err, err)
			continue
		}
		sameJSON(t, k+" loaded", string(sess.JSON), js)
		if e.UserID != store.UserIDOf([]byte(js)) || e.Version != sess.Version {
			t.Errorf("%s: scan entry %+v, load %+v", k, e.Meta, sess.Meta)
		}
		if want := s.djangoInstant(djRows[k].ExpireDate); !e.Expiry.Equal(want) {
			t.Errorf("%s: expires %v, Django's row says %v", k, e.Expiry, want)
		}
		if expired := strings.HasPrefix(k, "expired"); ss.Expired(e, now) != expired || e.Expired(now) != expired {
			t.Errorf("%s: Expired %v, Django's load() finds it expired: %v", k, ss.Expired(e, now), expired)
		}
		if lo, hi := now.Add(-time.Minute), now; e.ModTime.Before(lo) || e.ModTime.After(hi) {
			t.Errorf("%s: last saved %v, Django saved it within the last minute", k, e.ModTime)
		}
	}
	var mine []string
	if err := ss.ScanUser(ctx, "42", func(e store.Entry) error { mine = append(mine, e.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(mine)
	if want := []string{keyOf("expired", 1), keyOf("login", 1), keyOf("login", 2)}; !slices.Equal(mine, want) {
		t.Errorf("ScanUser(42) = %v, want %v", mine, want)
	}

	// A request saves a session sessionfs has read.
	read, err := ss.Load(ctx, keyOf("conflict", 1))
	if err != nil {
		t.Fatal(err)
	}
	djConflict := `{"_auth_user_id": "9", "by": "django", "n": 2}`
	s.djangoSave(false, map[string]string{keyOf("conflict", 1): djConflict})

	// sessionfs changes sessions through the contract.
	if _, err := ss.Save(ctx, keyOf("conflict", 1), []byte(`{"_auth_user_id": "9", "by": "sessionfs"}`),
		store.SaveOptions{IfMatch: read.Version, KeepExpiry: true}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a guarded save over Django's: %v, want ErrConflict", err)
	}
	edit, err := ss.Load(ctx, keyOf("edit", 1))
	if err != nil {
		t.Fatal(err)
	}
	edited, err := ss.Save(ctx, keyOf("edit", 1), []byte(`{"_auth_user_id": "5", "step": 2, "note": "café ☃"}`),
		store.SaveOptions{IfMatch: edit.Version, KeepExpiry: true, ReportBefore: true})
	if err != nil || !edited.Expiry.Equal(edit.Expiry) {
		t.Errorf("edit keeping the expiry: %v, expires %v, was %v", err, edited.Expiry, edit.Expiry)
	}
	created, err := ss.Save(ctx, keyOf("gonew", 1), []byte(`{"_auth_user_id": "11", "made": "by sessionfs"}`), store.SaveOptions{MustCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Save(ctx, keyOf("login", 1), []byte(`{}`), store.SaveOptions{MustCreate: true}); !errors.Is(err, store.ErrExists) {
		t.Errorf("creating over Django's session: %v, want ErrExists", err)
	}
	if r, err := ss.RemoveIf(ctx, keyOf("remove", 1), false, func(e store.Entry) bool { return e.UserID == "5" }); err != nil || !r.Removed {
		t.Errorf("RemoveIf: %+v %v", r, err)
	}
	at := time.Now().Add(-time.Hour)
	renewed, err := ss.Renew(ctx, keyOf("renew", 1), at, store.Version{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Renew(ctx, keyOf("login", 2), time.Now().Add(-age-time.Minute), store.Version{}); err != nil {
		t.Fatal(err)
	}
	moved, err := ss.Rename(ctx, keyOf("rename", 1), keyOf("renamed", 1))
	if err != nil {
		t.Fatal(err)
	}
	var dated store.Saved
	if o.noTZ {
		// A naive date is wall clock in TIME_ZONE, as Django stores it.
		dated, err = ss.Save(ctx, keyOf("dated", 1), []byte(`{"_session_expiry": "2030-05-06T07:08:09"}`), store.SaveOptions{MustCreate: true})
		if err != nil {
			t.Fatal(err)
		}
	}

	// Django agrees.
	keys := []string{keyOf("conflict", 1), keyOf("edit", 1), keyOf("gonew", 1), keyOf("renew", 1), keyOf("renamed", 1), keyOf("login", 2),
		keyOf("remove", 1), keyOf("rename", 1)}
	want := []string{djConflict, `{"_auth_user_id": "5", "step": 2, "note": "café ☃"}`, `{"_auth_user_id": "11", "made": "by sessionfs"}`,
		dj[keyOf("renew", 1)], dj[keyOf("rename", 1)], `{}`}
	for i, l := range s.djangoLoad(keys...) {
		if i >= len(want) { // removed or renamed away: Django finds no row
			if l.Existed || string(l.Data) != "{}" {
				t.Errorf("Django still finds %s: %+v", keys[i], l)
			}
			continue
		}
		if !l.OK || !l.Existed {
			t.Errorf("Django's load of %s: %+v", keys[i], l)
			continue
		}
		sameJSON(t, keys[i]+" as Django loads it", string(l.Data), want[i])
	}
	rows := s.djangoRows()
	for k, wantExpiry := range map[string]time.Time{
		keyOf("edit", 1): edit.Expiry, keyOf("gonew", 1): created.Expiry, keyOf("renew", 1): at.Add(age).Truncate(time.Microsecond),
		keyOf("renamed", 1): entries[keyOf("rename", 1)].Expiry,
	} {
		if got := s.djangoInstant(rows[k].ExpireDate); !got.Equal(wantExpiry) {
			t.Errorf("%s: Django's expire_date %v, want %v (stored %q)", k, got, wantExpiry, s.storedExpire(k))
		}
	}
	if !renewed.Expiry.Equal(at.Add(age).Truncate(time.Microsecond)) || !moved.Expiry.Equal(entries[keyOf("rename", 1)].Expiry) {
		t.Errorf("Renew reports %v, Rename %v", renewed.Expiry, moved.Expiry)
	}
	if o.noTZ {
		if stored := s.storedExpire(keyOf("dated", 1)); !strings.HasPrefix(stored, "2030-05-06 07:08:09") {
			t.Errorf("a naive _session_expiry stored as %q", stored)
		}
		if got := s.djangoInstant(rows[keyOf("dated", 1)].ExpireDate); !got.Equal(dated.Expiry) {
			t.Errorf("a naive _session_expiry: Django reads %v, sessionfs says %v", got, dated.Expiry)
		}
	}

	// gc: exactly what clearsessions removes. The dry run lists it; the
	// real one removes it, each row's bytes reported; Django's own
	// clear_expired then finds nothing more to remove.
	before := rows
	now = time.Now()
	var wantGone []string
	for k, r := range before {
		if s.djangoInstant(r.ExpireDate).Before(now) {
			wantGone = append(wantGone, k)
		}
	}
	slices.Sort(wantGone)
	if len(wantGone) != 3 {
		t.Errorf("expired before gc: %v", wantGone)
	}
	dry, err := ss.ClearExpired(ctx, store.ClearOptions{DryRun: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dry.Removed)
	var removed []store.Removal
	res, err := ss.ClearExpired(ctx, store.ClearOptions{Removed: func(r store.Removal) { removed = append(removed, r) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.Removed)
	if !slices.Equal(dry.Removed, wantGone) || !slices.Equal(res.Removed, wantGone) || res.Scanned != len(before) {
		t.Errorf("gc dry run %v, gc %v of %d, want %v of %d", dry.Removed, res.Removed, res.Scanned, wantGone, len(before))
	}
	for _, r := range removed {
		if r.Raw == nil || string(r.Raw) != before[r.Key].Data || r.Err != nil {
			t.Errorf("gc reports %s removed with %d bytes (%v), the row held %d", r.Key, len(r.Raw), r.Err, len(before[r.Key].Data))
		}
	}
	s.dj.Call(t, s.settings, harness.OpClearExpired, nil, nil)
	if after := s.all(); len(after) != len(before)-len(wantGone) {
		t.Errorf("Django's clear_expired after gc: %d rows left, want %d", len(after), len(before)-len(wantGone))
	}
}
