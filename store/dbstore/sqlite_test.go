package dbstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// djangoSQLiteDDL is what `manage.py migrate` of django.contrib.sessions
// creates on SQLite (Django 3.2 to 5.2).
const djangoSQLiteDDL = `CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL);
CREATE INDEX "django_session_expire_date_a5c62663" ON "django_session" ("expire_date");`

// userSessionsSQLiteDDL has the shape of django-user-sessions' table: an
// indexed user_id and NOT NULL columns the model fills itself.
const userSessionsSQLiteDDL = `CREATE TABLE "user_sessions_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL, "user_agent" varchar(200) NOT NULL, "last_activity" datetime NOT NULL, "ip" char(39) NULL, "user_id" integer NULL);
CREATE INDEX "user_sessions_session_expire_date" ON "user_sessions_session" ("expire_date");
CREATE INDEX "user_sessions_session_user_id" ON "user_sessions_session" ("user_id");`

// sqliteFile makes a database file with ddl, as Django would have.
func sqliteFile(t *testing.T, ddl string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db.sqlite3")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range strings.Split(ddl, ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return path
}

func sqliteConfig(t *testing.T, path string) dbstore.Config {
	t.Helper()
	cfg, err := dbstore.ParseURL("sqlite:///" + path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openSQLite(t *testing.T, cfg dbstore.Config) *dbstore.Store {
	t.Helper()
	s, err := dbstore.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rawExec(t *testing.T, path, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func rawText(t *testing.T, path, query string, args ...any) string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s string
	if err := db.QueryRow(query, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

var t0 = time.Date(2026, 11, 25, 19, 43, 17, 950467_000, time.UTC)

func key(i int) string { return fmt.Sprintf("k%031d", i) }

func TestSQLiteRowOperations(t *testing.T) {
	path := sqliteFile(t, djangoSQLiteDDL)
	s := openSQLite(t, sqliteConfig(t, path))
	testRowOperations(t, s, func(q string) { rawExec(t, path, q) })
	// The stored text is what Django writes: naive UTC, Python's str().
	if got := rawText(t, path, `SELECT CAST(expire_date AS TEXT) FROM django_session WHERE session_key = ?`, key(9)); got != "2026-11-25 19:43:17.950467" {
		t.Errorf("stored expire_date %q", got)
	}
}

// testRowOperations runs every row operation and its guards on an empty
// django_session; outside runs SQL as another writer (Django) would.
func testRowOperations(t *testing.T, s *dbstore.Store, outside func(q string)) {
	ctx := context.Background()
	sc := s.Schema()
	if sc.KeyMaxLen != 40 || sc.UserIndex || len(sc.CreateBlockers) != 0 {
		t.Fatalf("schema of Django's table: %+v", sc)
	}

	if _, err := s.Get(ctx, key(1)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v", err)
	}
	w, err := s.Insert(ctx, key(1), "data-1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(ctx, key(9), "data-9", t0); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, key(1))
	if err != nil {
		t.Fatal(err)
	}
	if r.Data != "data-1" || !r.ExpireDate.Equal(t0) || !r.Version.Equal(w.Version) {
		t.Fatalf("Get = %+v, Insert wrote %+v", r, w)
	}
	if _, err := s.Insert(ctx, key(1), "again", t0); !errors.Is(err, store.ErrExists) {
		t.Errorf("Insert of an existing key: %v", err)
	}

	// A guarded update applies once; the old version then conflicts.
	u, err := s.UpdateIf(ctx, key(1), r.Version, "data-2", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, key(1)); !got.Version.Equal(u.Version) {
		t.Errorf("UpdateIf returned %+v, the row is %+v", u, got)
	}
	if _, err := s.UpdateIf(ctx, key(1), r.Version, "data-3", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateIf with a stale version: %v", err)
	}
	// Writing what the row already holds still succeeds.
	if _, err := s.UpdateIf(ctx, key(1), u.Version, "data-2", t0.Add(time.Hour)); err != nil {
		t.Errorf("UpdateIf to the same values: %v", err)
	}
	// A change of case alone is a change (MySQL's collation ignores case).
	outside(fmt.Sprintf(`UPDATE django_session SET session_data = 'DATA-2' WHERE session_key = '%s'`, key(1)))
	if _, err := s.UpdateIf(ctx, key(1), u.Version, "data-4", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateIf after a change of case: %v", err)
	}
	// Only the expiry changing is a change too.
	u, _ = s.Get(ctx, key(1))
	outside(fmt.Sprintf(`UPDATE django_session SET expire_date = '2030-01-01 00:00:00' WHERE session_key = '%s'`, key(1)))
	if _, err := s.UpdateIf(ctx, key(1), u.Version, "data-4", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateIf after an expiry change: %v", err)
	}
	r, _ = s.Get(ctx, key(1))

	// Rename keeps the row, refuses a taken key.
	if _, err := s.Insert(ctx, key(2), "data-k2", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RenameIf(ctx, key(1), r.Version, key(2)); !errors.Is(err, store.ErrExists) {
		t.Errorf("RenameIf onto a taken key: %v", err)
	}
	moved, err := s.RenameIf(ctx, key(1), r.Version, key(3))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, key(3)); !got.Version.Equal(moved.Version) || got.Data != "DATA-2" {
		t.Errorf("renamed row %+v", got)
	}
	if _, err := s.RenameIf(ctx, key(1), r.Version, key(4)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RenameIf of a moved row: %v", err)
	}

	// DeleteIf: the current version deletes; then gone; a stale one conflicts.
	if err := s.DeleteIf(ctx, key(3), r.Version); err != nil {
		t.Fatalf("DeleteIf with the current version: %v", err)
	}
	if err := s.DeleteIf(ctx, key(3), r.Version); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteIf of a removed row: %v", err)
	}
	k2, _ := s.Get(ctx, key(2))
	outside(fmt.Sprintf(`UPDATE django_session SET session_data = 'changed' WHERE session_key = '%s'`, key(2)))
	if err := s.DeleteIf(ctx, key(2), k2.Version); !errors.Is(err, store.ErrConflict) {
		t.Errorf("DeleteIf of a changed row: %v", err)
	}
	if err := s.Delete(ctx, key(2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key(2)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete of a missing row: %v", err)
	}
	if _, err := s.UpdateIf(ctx, key(2), k2.Version, "x", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateIf of a deleted row: %v", err)
	}
}

func TestSQLiteKeysCheckedBeforeAnyStatement(t *testing.T) {
	ctx := context.Background()
	path := sqliteFile(t, djangoSQLiteDDL)
	s := openSQLite(t, sqliteConfig(t, path))
	for _, k := range []string{"", "short", "UPPERCASEKEY0000", "has_underscore00", "k' OR '1'='1'--", strings.Repeat("a", 41), "ünïcode00"} {
		if _, err := s.Get(ctx, k); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Get(%q): %v", k, err)
		}
		if _, err := s.Insert(ctx, k, "x", t0); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Insert(%q): %v", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Delete(%q): %v", k, err)
		}
	}
	if _, err := s.Insert(ctx, strings.Repeat("a", 40), "x", t0); err != nil {
		t.Errorf("a 40-character key fits Django's column: %v", err)
	}
	if n := rawText(t, path, `SELECT count(*) FROM django_session`); n != "1" {
		t.Errorf("%s rows after refused keys", n)
	}
}

func TestSQLiteScanPages(t *testing.T) {
	ctx := context.Background()
	path := sqliteFile(t, djangoSQLiteDDL)
	s := openSQLite(t, sqliteConfig(t, path))
	const n = 2503
	db, _ := sql.Open("sqlite", path)
	tx, _ := db.Begin()
	for i := range n {
		if _, err := tx.Exec(`INSERT INTO django_session VALUES (?, ?, ?)`, key(i), strings.Repeat("d", i%7), "2026-12-09 19:43:29"); err != nil {
			t.Fatal(err)
		}
	}
	// A row whose key is not Django's shape is listed as stored.
	if _, err := tx.Exec(`INSERT INTO django_session VALUES ('Bad_Key', 'x', '2026-12-09 19:43:29')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, opt := range []dbstore.ScanOptions{{}, {PageRows: 100}, {PageRows: 7, KeysOnly: true}, {PageBytes: 1}} {
		var keys []string
		err := s.Scan(ctx, opt, func(r dbstore.Row) error {
			keys = append(keys, r.Key)
			if opt.KeysOnly != (r.Data == "" && r.Version.IsZero()) && r.Key != "Bad_Key" && len(r.Data) > 0 {
				t.Fatalf("%+v: row %+v", opt, r)
			}
			if r.ExpireDate.IsZero() {
				t.Fatalf("row %s without expiry", r.Key)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != n+1 || keys[0] != "Bad_Key" || keys[n] != key(n-1) {
			t.Errorf("%+v: %d keys, first %q last %q", opt, len(keys), keys[0], keys[len(keys)-1])
		}
		for i := 1; i < len(keys); i++ {
			if keys[i] <= keys[i-1] {
				t.Fatalf("%+v: keys out of order or repeated at %d: %q after %q", opt, i, keys[i], keys[i-1])
			}
		}
	}
	// Resuming after a key, and fn's error stopping the scan.
	stop := errors.New("stop")
	var seen []string
	err := s.Scan(ctx, dbstore.ScanOptions{After: key(2499), PageRows: 2}, func(r dbstore.Row) error {
		seen = append(seen, r.Key)
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || len(seen) != 2 || seen[0] != key(2500) {
		t.Errorf("resumed scan: %v %v", err, seen)
	}
	if err := s.CheckKey("Bad_Key"); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("CheckKey(Bad_Key): %v", err)
	}
}

func TestSQLiteClearExpired(t *testing.T) {
	ctx := context.Background()
	path := sqliteFile(t, djangoSQLiteDDL)
	s := openSQLite(t, sqliteConfig(t, path))
	now := t0
	var wantGone []string
	for i := range 120 {
		exp := now.Add(time.Duration(i%3-1) * time.Minute) // -1m, now, +1m
		if _, err := s.Insert(ctx, key(i), "d", exp); err != nil {
			t.Fatal(err)
		}
		if exp.Before(now) {
			wantGone = append(wantGone, key(i))
		}
	}
	var listed []string
	n, err := s.ClearExpired(ctx, now, dbstore.ClearOptions{DryRun: true, Batch: 7}, func(r dbstore.Row) error {
		listed = append(listed, r.Key)
		return nil
	})
	if err != nil || n != 40 || strings.Join(listed, ",") != strings.Join(wantGone, ",") {
		t.Fatalf("dry run: %d %v, listed %d", n, err, len(listed))
	}
	if c := rawText(t, path, `SELECT count(*) FROM django_session`); c != "120" {
		t.Fatalf("the dry run deleted rows: %s left", c)
	}
	var removed []string
	n, err = s.ClearExpired(ctx, now, dbstore.ClearOptions{Batch: 7, WithData: true}, func(r dbstore.Row) error {
		if r.Data != "d" || !r.ExpireDate.Before(now) {
			t.Errorf("removed row %+v", r)
		}
		removed = append(removed, r.Key)
		return nil
	})
	if err != nil || n != 40 || len(removed) != 40 {
		t.Fatalf("clear: %d %v %d", n, err, len(removed))
	}
	// expire_date == now stays (Django: expire_date < now), yet Django's
	// load() already treats it as expired.
	r, err := s.Get(ctx, key(1))
	if err != nil || !r.Expired(now) {
		t.Errorf("the row expiring at now: %+v %v", r, err)
	}
	if c := rawText(t, path, `SELECT count(*) FROM django_session`); c != "80" {
		t.Errorf("%s rows left, want 80", c)
	}
}

func TestSQLiteSchemaChecks(t *testing.T) {
	ctx := context.Background()
	t.Run("missing table", func(t *testing.T) {
		path := sqliteFile(t, `CREATE TABLE other (x int)`)
		_, err := dbstore.Open(ctx, sqliteConfig(t, path))
		if !errors.Is(err, dbstore.ErrSchema) || !strings.Contains(err.Error(), "manage.py migrate") {
			t.Errorf("Open: %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.sqlite3")
		_, err := dbstore.Open(ctx, sqliteConfig(t, path))
		if err == nil || !strings.Contains(err.Error(), "manage.py migrate") {
			t.Errorf("Open: %v", err)
		}
		if _, serr := os.Stat(path); serr == nil {
			t.Error("Open created the missing database file")
		}
	})
	t.Run("another schema", func(t *testing.T) {
		path := sqliteFile(t, `CREATE TABLE django_session (session_key varchar(40) PRIMARY KEY, data text, expires datetime)`)
		_, err := dbstore.Open(ctx, sqliteConfig(t, path))
		if !errors.Is(err, dbstore.ErrSchema) || !strings.Contains(err.Error(), "want columns session_key, session_data, expire_date") {
			t.Errorf("Open: %v", err)
		}
	})
	t.Run("short key column", func(t *testing.T) {
		path := sqliteFile(t, `CREATE TABLE django_session (session_key varchar(20) PRIMARY KEY, session_data text, expire_date datetime)`)
		if _, err := dbstore.Open(ctx, sqliteConfig(t, path)); !errors.Is(err, dbstore.ErrSchema) {
			t.Errorf("Open: %v", err)
		}
	})
	t.Run("no unique key", func(t *testing.T) {
		path := sqliteFile(t, `CREATE TABLE django_session (session_key varchar(40), session_data text, expire_date datetime)`)
		s := openSQLite(t, sqliteConfig(t, path))
		if _, err := s.Insert(ctx, key(1), "x", t0); !errors.Is(err, dbstore.ErrCreateRefused) {
			t.Errorf("Insert: %v", err)
		}
	})
	t.Run("user sessions", func(t *testing.T) {
		path := sqliteFile(t, userSessionsSQLiteDDL)
		cfg := sqliteConfig(t, path)
		cfg.Table = "user_sessions_session"
		s := openSQLite(t, cfg)
		sc := s.Schema()
		if !sc.UserIndex || len(sc.CreateBlockers) != 2 {
			t.Fatalf("schema %+v", sc)
		}
		_, err := s.Insert(ctx, key(1), "x", t0)
		if !errors.Is(err, dbstore.ErrCreateRefused) || !strings.Contains(err.Error(), "user_agent") || !strings.Contains(err.Error(), "last_activity") {
			t.Errorf("Insert: %v", err)
		}
		for i, uid := range []any{42, 42, 7, nil} {
			rawExec(t, path, `INSERT INTO user_sessions_session VALUES (?, 'd', '2026-12-09 19:43:29', 'Firefox', '2026-11-25 19:43:29', '127.0.0.1', ?)`, key(i), uid)
		}
		var got []string
		if err := s.ScanUser(ctx, "42", func(r dbstore.Row) error { got = append(got, r.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != key(0)+","+key(1) {
			t.Errorf("ScanUser(42) = %v", got)
		}
		if err := s.ScanUser(ctx, "not-a-number", func(r dbstore.Row) error { t.Error("row for a non-integer id"); return nil }); err != nil {
			t.Error(err)
		}
		// Edits change only session_data and expire_date.
		r, _ := s.Get(ctx, key(0))
		if _, err := s.UpdateIf(ctx, key(0), r.Version, "edited", t0); err != nil {
			t.Fatal(err)
		}
		if got := rawText(t, path, `SELECT user_agent || '|' || last_activity || '|' || ip || '|' || user_id FROM user_sessions_session WHERE session_key = ?`, key(0)); got != "Firefox|2026-11-25 19:43:29|127.0.0.1|42" {
			t.Errorf("other columns after an edit: %q", got)
		}
	})
	t.Run("no user index", func(t *testing.T) {
		s := openSQLite(t, sqliteConfig(t, sqliteFile(t, djangoSQLiteDDL)))
		if err := s.ScanUser(ctx, "42", func(dbstore.Row) error { return nil }); !errors.Is(err, dbstore.ErrNoUserIndex) {
			t.Errorf("ScanUser: %v", err)
		}
	})
}

// sessionfs shares the site's file with a running Django: it never changes
// the journal mode or any other persistent setting, and leaves no file of
// its own beside the database.
func TestSQLiteLeavesFileSettingsAlone(t *testing.T) {
	ctx := context.Background()
	path := sqliteFile(t, djangoSQLiteDDL)
	header := func() []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), b[:100]...)
	}
	before := header()
	mode := rawText(t, path, `PRAGMA journal_mode`)
	s := openSQLite(t, sqliteConfig(t, path))
	r, err := s.Insert(ctx, key(1), "x", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateIf(ctx, key(1), r.Version, "y", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClearExpired(ctx, t0.Add(time.Hour), dbstore.ClearOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	after := header()
	// The settings in the header: bytes 18-19 are the read/write format
	// versions (2 = WAL), 20-23 reserved space and payload fractions, 44-67
	// schema format, cache size, auto-vacuum, text encoding, user_version,
	// incremental vacuum and application id.
	for _, r := range [][2]int{{18, 24}, {44, 68}} {
		for i := r[0]; i < r[1]; i++ {
			if before[i] != after[i] {
				t.Errorf("header byte %d changed: %d -> %d", i, before[i], after[i])
			}
		}
	}
	if got := rawText(t, path, `PRAGMA journal_mode`); got != mode {
		t.Errorf("journal mode %s -> %s", mode, got)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files beside the database: %v", names)
	}
}

// A long Django transaction holding the file's write lock makes a write
// wait for the busy timeout, then fail as unavailable; nothing hangs and
// the row is untouched.
func TestSQLiteLockedByDjango(t *testing.T) {
	ctx := context.Background()
	path := sqliteFile(t, djangoSQLiteDDL)
	cfg := sqliteConfig(t, path)
	cfg.BusyTimeout = 300 * time.Millisecond
	s := openSQLite(t, cfg)
	r, err := s.Insert(ctx, key(1), "before", t0)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN EXCLUSIVE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.UpdateIf(ctx, key(1), r.Version, "after", t0)
	took := time.Since(start)
	if !errors.Is(err, dbstore.ErrUnavailable) || !strings.Contains(err.Error(), "locked") {
		t.Errorf("UpdateIf on a locked file: %v", err)
	}
	if took < 250*time.Millisecond || took > 5*time.Second {
		t.Errorf("UpdateIf returned after %v, want about the busy timeout", took)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, key(1))
	if err != nil || got.Data != "before" {
		t.Errorf("row after the failed update: %+v %v", got, err)
	}
	// Once the lock is gone the same version applies.
	if _, err := s.UpdateIf(ctx, key(1), r.Version, "after", t0); err != nil {
		t.Errorf("UpdateIf after the lock: %v", err)
	}
}

// Concurrent guarded updates of one row: each applies on the version it
// read or reports a conflict; none is lost silently.
func TestSQLiteConcurrentGuardedUpdates(t *testing.T) {
	ctx := context.Background()
	path := sqliteFile(t, djangoSQLiteDDL)
	s := openSQLite(t, sqliteConfig(t, path))
	if _, err := s.Insert(ctx, key(1), "0", t0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied := 0
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				r, err := s.Get(ctx, key(1))
				if err != nil {
					t.Error(err)
					return
				}
				_, err = s.UpdateIf(ctx, key(1), r.Version, fmt.Sprintf("%s+w%d.%d", r.Data, w, i), t0)
				switch {
				case err == nil:
					mu.Lock()
					applied++
					mu.Unlock()
				case errors.Is(err, store.ErrConflict):
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	r, _ := s.Get(ctx, key(1))
	if got := strings.Count(r.Data, "+"); got != applied {
		t.Errorf("%d updates applied, the row holds %d", applied, got)
	}
}
