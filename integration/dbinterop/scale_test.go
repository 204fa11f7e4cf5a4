package dbinterop

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/dbtest"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store"
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

// sessionScaleRows is the table of the contract's memory test; the
// environment variable SESSIONFS_DB_SCALE_ROWS sets another size (the
// README's figure is a million).
func sessionScaleRows(t *testing.T) int {
	if v := os.Getenv("SESSIONFS_DB_SCALE_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("SESSIONFS_DB_SCALE_ROWS=%q", v)
		}
		return n
	}
	return 100_000
}

// Listing a large table through the store contract, twice as a mount does
// (the first decodes every row, the second only reads them): the metadata
// cache stays compact and outside the heap, and the heap stays bounded by
// a page and its decoding, whatever the table's size.
func TestSessionsScanMemory(t *testing.T) {
	ctx := context.Background()
	rows := sessionScaleRows(t)
	db := dbtest.Postgres(t).NewDatabase(t)
	db.CreateSessionTable(t)
	c := newCodec(t)
	// A thousand login sessions, spread over the rows with their own
	// expiry each: every row is its own version.
	r := rand.New(rand.NewPCG(1, 2))
	var values []string
	for i := range 1000 {
		data, err := c.Encode(harness.LoginSession(r), codec.EncodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, fmt.Sprintf("(%d, '%s')", i, data))
	}
	start := time.Now()
	db.Exec(t, "CREATE TABLE templates (n int PRIMARY KEY, data text NOT NULL)",
		"INSERT INTO templates VALUES "+strings.Join(values, ", "),
		fmt.Sprintf(`INSERT INTO django_session
			SELECT lpad(to_hex(i), 32, '0'), t.data, now() + interval '1 hour' + i * interval '1 millisecond'
			FROM generate_series(1, %d) AS i JOIN templates t ON t.n = i %% 1000`, rows),
		"ANALYZE django_session")
	t.Logf("%d rows written in %v", rows, time.Since(start).Round(time.Millisecond))
	st, err := dbstore.Open(ctx, db.Config(t, true))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ss, err := dbstore.NewSessions(st, dbstore.SessionConfig{Codec: c})
	if err != nil {
		t.Fatal(err)
	}
	rssBefore := vmRSS(t)
	for _, pass := range []string{"first", "second"} {
		runtime.GC()
		var ms runtime.MemStats
		var peak uint64
		n, users := 0, 0
		start := time.Now()
		err := ss.Scan(ctx, func(e store.Entry) error {
			n++
			if e.Err != nil {
				return e.Err
			}
			if e.UserID != "" {
				users++
			}
			if n%20_000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
			return nil
		})
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if n != rows || users != rows {
			t.Errorf("%s listing: %d entries, %d with a user, want %d", pass, n, users, rows)
		}
		if peak > scaleHeapMax {
			t.Errorf("%s listing: heap in use reached %d MiB", pass, peak>>20)
		}
		rss := vmRSS(t)
		t.Logf("%s listing of %d sessions: %v (%.2f µs/session), peak heap in use %d MiB, RSS %d MiB (%+d MiB)",
			pass, n, took.Round(time.Millisecond), float64(took.Microseconds())/float64(n), peak>>20, rss>>20, (rss-rssBefore)>>20)
		// The cache: 64 bytes a session and its index, outside the heap.
		if grown := rss - rssBefore; grown > int64(rows)*100+scaleHeapMax*2 {
			t.Errorf("%s listing: RSS grew by %d MiB for %d sessions", pass, grown>>20, rows)
		}
	}
}

// vmRSS is the process's resident set size, from /proc/self/status.
func vmRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
