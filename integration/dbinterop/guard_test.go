package dbinterop

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// An edit guarded by the version read never overwrites a save Django made
// in between, and never resurrects a session Django deleted: Django itself
// writes with plain UPDATEs, last writer wins.
func TestGuardedUpdateAgainstDjango(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			s := newSite(t, engine, siteOptions{})
			k := keyOf("guard", 1)
			s.djangoSave(true, map[string]string{k: `{"_auth_user_id": "42", "step": 1}`})
			read, err := s.store.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			// A request saves the session after sessionfs read it.
			s.djangoSave(false, map[string]string{k: `{"_auth_user_id": "42", "step": 2, "cart": [9]}`})
			_, err = s.store.UpdateIf(ctx, k, read.Version, s.encode(`{"_auth_user_id": "42", "step": 1, "edited": true}`), read.ExpireDate)
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("UpdateIf over Django's save: %v", err)
			}
			// Re-read: Django's save is there; edit: applies, and Django loads the edit.
			read, err = s.store.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, "after the refused edit", s.decode(read.Data), `{"_auth_user_id": "42", "step": 2, "cart": [9]}`)
			if _, err := s.store.UpdateIf(ctx, k, read.Version, s.encode(`{"_auth_user_id": "42", "step": 2, "cart": [9, 10]}`), read.ExpireDate); err != nil {
				t.Fatal(err)
			}
			l := s.djangoLoad(k)[0]
			sameJSON(t, "after the edit", string(l.Data), `{"_auth_user_id": "42", "step": 2, "cart": [9, 10]}`)

			// Django deletes (logout); the edit of the old version must not
			// bring the session back.
			read, _ = s.store.Get(ctx, k)
			s.dj.Call(t, s.settings, harness.OpDelete, []string{k}, nil)
			_, err = s.store.UpdateIf(ctx, k, read.Version, s.encode(`{"_auth_user_id": "42"}`), read.ExpireDate)
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("UpdateIf of a session Django deleted: %v", err)
			}
			if err := s.store.DeleteIf(ctx, k, read.Version); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("DeleteIf of a session Django deleted: %v", err)
			}
			if r, err := s.store.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the deleted session is back: %+v %v", r, err)
			}
		})
	}
}

// While Django saves one session in a loop, sessionfs reads and edits it
// in a loop: every read decodes (no torn row), every edit either applies to
// exactly the version read or reports a conflict, and Django's last state
// or sessionfs's last applied edit is what remains.
func TestGuardedUpdatesDuringDjangoSaves(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			s := newSite(t, engine, siteOptions{})
			k := keyOf("busy", 1)
			djState := `{"_auth_user_id": "42", "by": "django"}`
			s.djangoSave(true, map[string]string{k: djState})
			dir := t.TempDir()
			ready, stop := filepath.Join(dir, "ready"), filepath.Join(dir, "stop")
			done := make(chan error, 1)
			var loop harness.LoopResult
			go func() {
				done <- s.dj.Run(ctx, s.settings, harness.OpLoopSave, harness.LoopSaveRequest{
					Sessions:  []harness.SaveItem{{Key: k, Data: json.RawMessage(djState)}},
					Seconds:   10, // a bound should the test die before writing the stop file
					ReadyFile: ready,
					StopFile:  stop,
				}, &loop)
			}()
			deadline := time.Now().Add(30 * time.Second)
			for {
				if _, err := os.Stat(ready); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("Django's save loop did not start")
				}
				time.Sleep(20 * time.Millisecond)
			}
			applied, conflicts := 0, 0
			end := time.Now().Add(time.Second)
			for i := 0; time.Now().Before(end); i++ {
				r, err := s.store.Get(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				js := s.decode(r.Data) // fails the test on a torn row
				if !strings.Contains(js, `"by"`) {
					t.Fatalf("read %s", js)
				}
				_, err = s.store.UpdateIf(ctx, k, r.Version, s.encode(`{"_auth_user_id": "42", "by": "sessionfs"}`), r.ExpireDate)
				switch {
				case err == nil:
					applied++
				case errors.Is(err, store.ErrConflict):
					conflicts++
				default:
					t.Fatalf("edit %d: %v", i, err)
				}
			}
			os.WriteFile(stop, nil, 0o644) //nolint:errcheck
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if loop.Errors != 0 || loop.Iterations == 0 {
				t.Errorf("Django's loop: %+v", loop)
			}
			t.Logf("%d Django saves; sessionfs: %d edits applied, %d conflicts", loop.Iterations, applied, conflicts)
			r, err := s.store.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if js := s.decode(r.Data); !strings.Contains(js, `"django"`) && !strings.Contains(js, `"sessionfs"`) {
				t.Errorf("final state %s", js)
			}
		})
	}
}

// ClearExpired removes exactly what Django's clear_expired removes from a
// table of mixed expiry dates, and its dry run lists exactly that; the
// naive-time sites would disagree on the sessions 30 minutes either side of
// now under any zone error.
func TestClearExpiredMatchesDjango(t *testing.T) {
	for _, engine := range engines {
		for _, o := range []siteOptions{{}, {noTZ: true, timeZone: "America/Sao_Paulo"}} {
			if engine == dbstore.PostgreSQL && o.noTZ {
				continue // instants: the zone settings do not reach the column
			}
			t.Run(o.name(engine), func(t *testing.T) {
				ctx := context.Background()
				s := newSite(t, engine, o)
				sessions := map[string]string{}
				for i, age := range []int{-86400, -1800, -60, 60, 1800, 86400, 0} {
					sessions[keyOf("mixed", i)] = `{"n": 1, "_session_expiry": ` + jsonInt(age) + `}`
				}
				s.djangoSave(true, sessions)
				all := s.all()

				var listed []string
				n, err := s.store.ClearExpired(ctx, time.Now(), dbstore.ClearOptions{DryRun: true, Batch: 2}, func(r dbstore.Row) error {
					listed = append(listed, r.Key)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				s.dj.Call(t, s.settings, harness.OpClearExpired, nil, nil)
				kept := s.all()
				var djangoRemoved []string
				for k := range all {
					if _, ok := kept[k]; !ok {
						djangoRemoved = append(djangoRemoved, k)
					}
				}
				if strings.Join(sorted(listed), ",") != strings.Join(sorted(djangoRemoved), ",") || int(n) != len(listed) || len(listed) != 3 {
					t.Errorf("dry run lists %v (n=%d), Django's clear_expired removed %v", listed, n, djangoRemoved)
				}

				// The same table again, cleared by sessionfs.
				s.djangoSave(true, onlyKeys(sessions, djangoRemoved))
				var removed []string
				n, err = s.store.ClearExpired(ctx, time.Now(), dbstore.ClearOptions{Batch: 2, WithData: true}, func(r dbstore.Row) error {
					removed = append(removed, r.Key)
					if !strings.Contains(s.decode(r.Data), `"n"`) {
						t.Errorf("removed row %s with data %q", r.Key, r.Data)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(sorted(removed), ",") != strings.Join(sorted(djangoRemoved), ",") || int(n) != len(removed) {
					t.Errorf("ClearExpired removed %v (n=%d), Django %v", removed, n, djangoRemoved)
				}
				if left := s.all(); len(left) != len(kept) {
					t.Errorf("%d rows left after ClearExpired, %d after Django's", len(left), len(kept))
				}
			})
		}
	}
}

// A table shaped like django-user-sessions': Django's sessions are found
// by the indexed user_id, sessionfs refuses to create rows (NOT NULL
// columns it cannot fill), and its edits and removals leave the other
// columns as the model wrote them.
func TestUserSessionsTable(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			s := newSite(t, engine, siteOptions{sessionModel: "user_sessions"})
			sc := s.store.Schema()
			blockers := strings.Join(sc.CreateBlockers, "; ")
			if !sc.UserIndex || !strings.Contains(blockers, "user_agent") || !strings.Contains(blockers, "last_activity") {
				t.Fatalf("schema %+v", sc)
			}
			s.djangoSave(true, map[string]string{
				keyOf("usera", 1): `{"_auth_user_id": "42", "n": 1}`,
				keyOf("usera", 2): `{"_auth_user_id": "42", "n": 2}`,
				keyOf("userb", 1): `{"_auth_user_id": "7"}`,
				keyOf("anon", 1):  `{"cart": [1]}`,
			})
			var mine []string
			if err := s.store.ScanUser(ctx, "42", func(r dbstore.Row) error {
				mine = append(mine, r.Key)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if strings.Join(mine, ",") != keyOf("usera", 1)+","+keyOf("usera", 2) {
				t.Errorf("ScanUser(42) = %v", mine)
			}
			// The custom model's store signs with Django's salts.
			for k, r := range s.all() {
				if js := s.decode(r.Data); !strings.Contains(js, "{") {
					t.Errorf("%s decodes to %s", k, js)
				}
			}
			if _, err := s.store.Insert(ctx, keyOf("new", 1), s.encode(`{}`), time.Now().Add(time.Hour)); !errors.Is(err, dbstore.ErrCreateRefused) {
				t.Errorf("Insert: %v", err)
			}
			others := func(key string) string {
				t.Helper()
				var agent string
				var uid *int64
				q := "SELECT user_agent, user_id FROM user_sessions_session WHERE session_key = ?"
				if engine == dbstore.PostgreSQL {
					q = strings.Replace(q, "?", "$1", 1)
				}
				if err := s.raw().QueryRow(q, key).Scan(&agent, &uid); err != nil {
					t.Fatal(err)
				}
				if uid == nil {
					return agent + "|NULL"
				}
				return agent + "|" + jsonInt(int(*uid))
			}
			before := others(keyOf("usera", 1))
			beforeActivity := s.rawColumn("last_activity", keyOf("usera", 1))
			r, err := s.store.Get(ctx, keyOf("usera", 1))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.store.UpdateIf(ctx, r.Key, r.Version, s.encode(`{"_auth_user_id": "42", "n": 1, "edited": true}`), r.ExpireDate); err != nil {
				t.Fatal(err)
			}
			if got := others(keyOf("usera", 1)); got != before || before != "djsession.py|42" {
				t.Errorf("other columns: %q before the edit, %q after", before, got)
			}
			if got := s.rawColumn("last_activity", keyOf("usera", 1)); got != beforeActivity {
				t.Errorf("last_activity %q -> %q", beforeActivity, got)
			}
			l := s.djangoLoad(keyOf("usera", 1))[0]
			sameJSON(t, "Django loads the edit", string(l.Data), `{"_auth_user_id": "42", "n": 1, "edited": true}`)
			r2, _ := s.store.Get(ctx, keyOf("usera", 2))
			if err := s.store.DeleteIf(ctx, r2.Key, r2.Version); err != nil {
				t.Fatal(err)
			}
			mine = nil
			s.store.ScanUser(ctx, "42", func(r dbstore.Row) error { mine = append(mine, r.Key); return nil }) //nolint:errcheck
			if len(mine) != 1 {
				t.Errorf("after removing one: %v", mine)
			}
		})
	}
}

// rawColumn is a column of the session table as text.
func (s *site) rawColumn(col, key string) string {
	s.t.Helper()
	q := "SELECT CAST(" + col + " AS TEXT) FROM " + s.cfg.Table + " WHERE session_key = ?"
	switch s.engine {
	case dbstore.PostgreSQL:
		q = "SELECT " + col + "::text FROM " + s.cfg.Table + " WHERE session_key = $1"
	case dbstore.MySQL:
		q = "SELECT CAST(" + col + " AS CHAR) FROM " + s.cfg.Table + " WHERE session_key = ?"
	}
	var v string
	if err := s.raw().QueryRow(q, key).Scan(&v); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
	return v
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func onlyKeys(m map[string]string, keys []string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}
