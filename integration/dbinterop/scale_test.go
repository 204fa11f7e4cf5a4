package dbinterop

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/dbtest"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// scaleRows is the table size of the memory test: its session_data alone
// is several times the heap bound the scan must stay under.
const (
	scaleRows     = 200_000
	scaleDataSize = 400
	scaleHeapMax  = 24 << 20
)

// A scan of a table far larger than the heap bound stays under it: pages
// are read, handed out and dropped, nothing holds the table.
func TestScanMemoryBounded(t *testing.T) {
	for _, engine := range []dbstore.Engine{dbstore.PostgreSQL, dbstore.SQLite} {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			var cfg dbstore.Config
			var fill func(q string)
			var q string
			switch engine {
			case dbstore.PostgreSQL:
				db := dbtest.Postgres(t).NewDatabase(t)
				db.CreateSessionTable(t)
				cfg = db.Config(t, true)
				raw := db.Open(t)
				fill = func(q string) {
					if _, err := raw.Exec(q); err != nil {
						t.Fatal(err)
					}
				}
				q = fmt.Sprintf(`INSERT INTO django_session
					SELECT lpad(to_hex(i), 32, '0'), repeat('d', %d), now() + interval '1 hour'
					FROM generate_series(1, %d) AS i`, scaleDataSize, scaleRows)
			case dbstore.SQLite:
				s := newSite(t, dbstore.SQLite, siteOptions{noMigrate: true})
				createSQLiteTable(t, s.path)
				cfg = s.cfg
				raw, err := sql.Open("sqlite", s.path)
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				fill = func(q string) {
					if _, err := raw.Exec(q); err != nil {
						t.Fatal(err)
					}
				}
				q = fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
					INSERT INTO django_session SELECT printf('%%032x', i), printf('%%.%dc', 'd'), '2099-01-01 00:00:00' FROM n`, scaleRows, scaleDataSize)
			}
			start := time.Now()
			fill(q)
			t.Logf("%d rows of %d bytes written in %v", scaleRows, scaleDataSize, time.Since(start).Round(time.Millisecond))
			s, err := dbstore.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, opt := range []dbstore.ScanOptions{{KeysOnly: true}, {}} {
				runtime.GC()
				var peak uint64
				var ms runtime.MemStats
				n, bytes := 0, 0
				start := time.Now()
				err := s.Scan(ctx, opt, func(r dbstore.Row) error {
					n++
					bytes += len(r.Data)
					if n%10_000 == 0 {
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapInuse)
					}
					return nil
				})
				took := time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				if n != scaleRows {
					t.Errorf("%+v: %d rows", opt, n)
				}
				if peak > scaleHeapMax {
					t.Errorf("%+v: heap in use reached %d MiB scanning %d MiB of session_data", opt, peak>>20, bytes>>20)
				}
				t.Logf("scan %+v: %d rows, %d MiB of data, %v (%.2f µs/row), peak heap in use %d MiB",
					opt, n, bytes>>20, took.Round(time.Millisecond), float64(took.Microseconds())/float64(n), peak>>20)
			}
		})
	}
}

func createSQLiteTable(t testing.TB, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL)`,
		`CREATE INDEX "django_session_expire_date_a5c62663" ON "django_session" ("expire_date")`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}
