package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/sessionfs/sessionfs/integration/dbtest"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// dbRows: Django's database backend on PostgreSQL and SQLite. The first
// `ls -l` through a fresh mount against Django's own way to see every
// session (Session.objects.iterator() and get_decoded()), the warm one
// against the file backend's warm `ls -l` of the same sessions, `revoke`
// against an ORM loop, then a million rows: `ls` and `ls -l` under the
// memory ceiling, and `gc` of half of them against clear_expired().
func (b *bench) dbRows() ([]row, error) {
	n := b.backend.db
	fileWarm, err := b.fileWarmList(n)
	if err != nil {
		return nil, err
	}
	progress("starting PostgreSQL")
	pg, err := dbtest.StartServer(dbstore.PostgreSQL)
	if err != nil {
		return nil, err
	}
	defer pg.Stop() //nolint:errcheck // its supervisor removes it in any case
	rows, err := b.pgRows(pg, n, fileWarm)
	if err != nil {
		return nil, err
	}
	big, err := b.pgBigRows(pg, b.backend.dbBig)
	if err != nil {
		return nil, err
	}
	rows = append(rows, big...)
	lite, err := b.sqliteRows(n, fileWarm)
	if err != nil {
		return nil, err
	}
	return append(rows, lite...), nil
}

// fileWarmList is the warm `ls -l` of a mount of the file backend holding
// the same n sessions as the databases.
func (b *bench) fileWarmList(n int) (time.Duration, error) {
	dir := b.path("db-files")
	if err := b.writeFiles(dir, n); err != nil {
		return 0, err
	}
	progress("warm ls -l through a mount of the file backend")
	m, err := b.mountSessionfs(dir, b.path("mnt-db-files"))
	if err != nil {
		return 0, err
	}
	script := fmt.Sprintf("ls -l %q > /dev/null", m.dir)
	_, err = timeShell(1, script)
	var warm time.Duration
	if err == nil {
		warm, err = timeShell(b.rounds, script)
	}
	if stopErr := m.stop(); err == nil {
		err = stopErr
	}
	return warm, err
}

// pgRows: 100,000 sessions in PostgreSQL, listed and revoked.
func (b *bench) pgRows(pg *dbtest.Server, n int, fileWarm time.Duration) ([]row, error) {
	d, err := b.pgPopulate(pg, "bench_pg", n)
	if err != nil {
		return nil, err
	}
	djCopy, err := d.Copy("bench_pg_django")
	if err != nil {
		return nil, err
	}
	list, err := b.dbListRows("PostgreSQL", n, d.Django(), b.pgArgs(d), fileWarm)
	if err != nil {
		return nil, err
	}
	progress("Django ORM revoke loop")
	django, removed, err := b.runDjangoBackend(djangoBackendReq{Op: "db_revoke", Database: djCopy.Django(), User: revokeUser})
	if err != nil {
		return nil, err
	}
	if want := revokeCount(n); removed != want {
		return nil, fmt.Errorf("the Django revoke loop removed %d sessions, want %d", removed, want)
	}
	progress("sessionfs revoke --user")
	ours, rss, err := b.runCLI(append(b.pgArgs(d), "revoke", "--user", revokeUser)...)
	if err != nil {
		return nil, err
	}
	if err := pgCount(d, n-revokeCount(n)); err != nil {
		return nil, fmt.Errorf("after revoke: %w", err)
	}
	return append(list, row{id: "db3", what: fmt.Sprintf("revoke --user of %d of %d sessions, PostgreSQL", removed, n), ours: ours,
		other: "Django ORM loop: decode all, delete theirs", theirs: django, target: atLeastFaster(10), rss: rss}), nil
}

// dbListRows times Django's iteration of every session, then the first
// and the warm `ls -l` of a fresh mount of the same database.
func (b *bench) dbListRows(engine string, n int, djangoDB map[string]any, args []string, fileWarm time.Duration) ([]row, error) {
	progress("Django Session.objects.iterator() + get_decoded(), %s", engine)
	django, seen, err := b.runDjangoBackend(djangoBackendReq{Op: "db_list", Database: djangoDB})
	if err != nil {
		return nil, err
	}
	if seen != n {
		return nil, fmt.Errorf("Django decoded %d sessions of %s, want %d", seen, engine, n)
	}
	progress("ls -l through a fresh mount of %s", engine)
	m, err := b.mountBackend(b.path("mnt-"+strings.ToLower(engine)), args)
	if err != nil {
		return nil, err
	}
	long := fmt.Sprintf("ls -l %q | wc -l", m.dir)
	first, err := countListing(long, n+1) // and the "total" line
	var firstRSS, warmRSS int64
	var warm time.Duration
	if err == nil {
		firstRSS, err = m.peakRSS()
	}
	if err == nil {
		progress("warm ls -l through the mount of %s", engine)
		warm, err = timeShell(b.rounds, fmt.Sprintf("ls -l %q > /dev/null", m.dir))
	}
	if err == nil {
		warmRSS, err = m.peakRSS()
	}
	if stopErr := m.stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}
	id := map[string]string{"PostgreSQL": "db", "SQLite": "sqlite"}[engine]
	return []row{
		{id: id + "1", what: fmt.Sprintf("ls -l of %d sessions, %s, first after mount", n, engine), ours: first,
			other: "Django iterator() + get_decoded()", theirs: django, target: faster, rss: firstRSS},
		{id: id + "1b", what: fmt.Sprintf("ls -l of %d sessions, %s, first after mount", n, engine), ours: first,
			other: "warm ls -l, file backend mount (FUSE alone)", theirs: fileWarm, rss: firstRSS},
		{id: id + "2", what: fmt.Sprintf("ls -l of %d sessions, %s, warm mount", n, engine), ours: warm,
			other: "warm ls -l, file backend mount", theirs: fileWarm, target: atMostSlower(2), rss: warmRSS},
	}, nil
}

// pgBigRows: a million rows: `ls` and `ls -l` through a fresh mount under
// the memory ceiling (the times compared with reading the same columns
// with a plain SELECT); then half of them expire, and `gc` goes against
// clear_expired() on a copy.
func (b *bench) pgBigRows(pg *dbtest.Server, n int) ([]row, error) {
	d, err := b.pgPopulate(pg, "bench_pg_big", n)
	if err != nil {
		return nil, err
	}
	progress("SELECT of the keys and of every row")
	keysOnly, err := pgSelect(d, `SELECT session_key FROM django_session`, n)
	if err != nil {
		return nil, err
	}
	allRows, err := pgSelect(d, `SELECT session_key, session_data, expire_date FROM django_session`, n)
	if err != nil {
		return nil, err
	}
	progress("ls and ls -l of %d rows through a fresh mount", n)
	m, err := b.mountBackend(b.path("mnt-pg-big"), b.pgArgs(d))
	if err != nil {
		return nil, err
	}
	var namesRSS, longRSS int64
	var long time.Duration
	names, err := countListing(fmt.Sprintf("ls %q | wc -l", m.dir), n)
	if err == nil {
		namesRSS, err = m.peakRSS()
	}
	if err == nil {
		long, err = countListing(fmt.Sprintf("ls -l %q | wc -l", m.dir), n+1)
	}
	if err == nil {
		longRSS, err = m.peakRSS()
	}
	if stopErr := m.stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}
	expired, err := pgExpireHalf(d)
	if err != nil {
		return nil, err
	}
	if expired != n/2 {
		return nil, fmt.Errorf("%d rows expired, want %d", expired, n/2)
	}
	djCopy, err := d.Copy("bench_pg_big_django")
	if err != nil {
		return nil, err
	}
	progress("Django clear_expired() of %d rows", n/2)
	django, cleared, err := b.runDjangoBackend(djangoBackendReq{Op: "db_clear_expired", Database: djCopy.Django()})
	if err != nil {
		return nil, err
	}
	if cleared != n/2 {
		return nil, fmt.Errorf("Django's clear_expired removed %d rows, want %d", cleared, n/2)
	}
	progress("sessionfs gc of %d rows", n/2)
	gc, gcRSS, err := b.runCLI(append(b.pgArgs(d), "gc")...)
	if err != nil {
		return nil, err
	}
	if err := pgCount(d, n-n/2); err != nil {
		return nil, fmt.Errorf("after gc: %w", err)
	}
	return []row{
		{id: "db4", what: fmt.Sprintf("ls of %d sessions (names), PostgreSQL, fresh mount", n), ours: names,
			other: "SELECT session_key (pgx)", theirs: keysOnly, target: rssAtMost(150), rss: namesRSS},
		{id: "db5", what: fmt.Sprintf("then ls -l of the %d sessions", n), ours: long,
			other: "SELECT of every column (pgx)", theirs: allRows, target: rssAtMost(150), rss: longRSS},
		{id: "db6", what: fmt.Sprintf("gc of %d sessions, %d expired, PostgreSQL", n, n/2), ours: gc,
			other: "Django 3.2 clear_expired()", theirs: django, target: atMostSlower(1.2), rss: gcRSS},
	}, nil
}

// pgPopulate creates database name with Django's session table and n
// sessions in it (COPY), vacuumed and analysed so that no contender pays
// for setting hint bits or lacks statistics.
func (b *bench) pgPopulate(pg *dbtest.Server, name string, n int) (*dbtest.Database, error) {
	progress("writing %d sessions to PostgreSQL database %s", n, name)
	d, err := pg.CreateDatabase(name)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.DSN())
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", name, err)
	}
	defer conn.Close(ctx)
	for _, q := range dbtest.SessionTableDDL(dbstore.PostgreSQL) {
		if _, err := conn.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	encode := func(data []byte) ([]byte, error) {
		s, err := b.signed(data)
		return []byte(s), err
	}
	cols := []string{"session_key", "session_data", "expire_date"}
	err = b.generate(n, encode, func(batch []generated) error {
		rows := make([][]any, len(batch))
		for i, g := range batch {
			rows[i] = []any{g.key, string(g.value), g.when}
		}
		_, err := conn.CopyFrom(ctx, pgx.Identifier{"django_session"}, cols, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("COPY into %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, `VACUUM (FREEZE, ANALYZE) django_session`); err != nil {
		return nil, fmt.Errorf("VACUUM of %s: %w", name, err)
	}
	return d, nil
}

// oddDigits are the base-36 digits of odd value: the last character of
// the key of every second generated session.
const oddDigits = "13579bdfhjlnprtvxz"

// pgExpireHalf moves the expiry of every second session (odd index) two
// cookie ages back, so that Django finds it expired, and returns how many
// rows it changed. It rewrites the table (CREATE TABLE AS, then Django's
// keys and indexes) rather than updating half of it, which would leave as
// many dead rows for a long vacuum to clear.
func pgExpireHalf(d *dbtest.Database) (int, error) {
	progress("expiring every second session of %s", d.Name)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.DSN())
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	odd := make([]string, len(oddDigits))
	for i := range oddDigits {
		odd[i] = oddDigits[i : i+1]
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	ddl := dbtest.SessionTableDDL(dbstore.PostgreSQL)
	if _, err := tx.Exec(ctx, `CREATE TABLE expiring AS SELECT session_key, session_data,
			CASE WHEN right(session_key, 1) = ANY($2) THEN expire_date - $1::interval ELSE expire_date END AS expire_date
		FROM django_session`, fmt.Sprintf("%d seconds", int64(2*cookieAge/time.Second)), odd); err != nil {
		return 0, fmt.Errorf("expiring sessions: %w", err)
	}
	for _, q := range append([]string{`DROP TABLE django_session`, `ALTER TABLE expiring RENAME TO django_session`,
		`ALTER TABLE django_session ALTER COLUMN session_data SET NOT NULL, ALTER COLUMN expire_date SET NOT NULL,
			ADD PRIMARY KEY (session_key)`}, ddl[1:]...) {
		if _, err := tx.Exec(ctx, q); err != nil {
			return 0, fmt.Errorf("expiring sessions: %s: %w", q, err)
		}
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM django_session WHERE expire_date < now()`).Scan(&n); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	if _, err := conn.Exec(ctx, `VACUUM (FREEZE, ANALYZE) django_session`); err != nil {
		return 0, fmt.Errorf("VACUUM of %s: %w", d.Name, err)
	}
	return n, nil
}

// pgSelect times reading every row of a query through pgx, as the floor
// of listing: what fetching the same columns costs with nothing decoded.
func pgSelect(d *dbtest.Database, query string, n int) (time.Duration, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.DSN())
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	start := time.Now()
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return 0, err
	}
	got := 0
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			return 0, err
		}
		got++
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if got != n {
		return 0, fmt.Errorf("%s: %d rows, want %d", query, got, n)
	}
	return time.Since(start), nil
}

// pgCount checks how many rows the table holds.
func pgCount(d *dbtest.Database, want int) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.DSN())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var got int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM django_session`).Scan(&got); err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%d rows left, want %d", got, want)
	}
	return nil
}

// sqliteRows: the same sessions in a SQLite file, listed.
func (b *bench) sqliteRows(n int, fileWarm time.Duration) ([]row, error) {
	// In a directory of its own: the mount refuses a mount point inside the
	// database's directory.
	dir := b.path("sqlite")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "sessions.sqlite3")
	if err := b.sqlitePopulate(path, n); err != nil {
		return nil, err
	}
	django := map[string]any{"ENGINE": "django.db.backends.sqlite3", "NAME": path}
	return b.dbListRows("SQLite", n, django, b.sqliteArgs(path), fileWarm)
}

// sqliteDDL is what Django's migration of django.contrib.sessions creates
// on SQLite.
var sqliteDDL = []string{
	`CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL)`,
	`CREATE INDEX "django_session_expire_date_a5c62663" ON "django_session" ("expire_date")`,
}

// sqlitePopulate writes n sessions into a new SQLite file as Django does
// (expire_date as naive UTC text), in one transaction.
func (b *bench) sqlitePopulate(path string, n int) error {
	progress("writing %d sessions to SQLite %s", n, path)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range sqliteDDL {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	ins, err := tx.Prepare(`INSERT INTO django_session (session_key, session_data, expire_date) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	encode := func(data []byte) ([]byte, error) {
		s, err := b.signed(data)
		return []byte(s), err
	}
	err = b.generate(n, encode, func(batch []generated) error {
		for _, g := range batch {
			if _, err := ins.Exec(g.key, string(g.value), g.when.UTC().Format("2006-01-02 15:04:05.000000")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("INSERT into %s: %w", path, err)
	}
	return tx.Commit()
}
