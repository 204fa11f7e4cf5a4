package dbstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/dbtest"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// Clearing in batches on PostgreSQL reads each row a bounded number of
// times, however many batches it takes: the rows earlier batches deleted
// stay in the table until a vacuum, and a batch that searched from the
// start again, or scanned the table to delete the rows it chose, would
// step over all of them, so the work would grow with the square of the
// table. PostgreSQL counts the tuples each scan returned
// (pg_stat_user_tables).
func TestClearExpiredReadsRowsOnce(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Postgres(t).NewDatabase(t)
	db.CreateSessionTable(t)
	const rows, batch = 20000, 500
	now := time.Now().UTC()
	// Every second row by key expired, at spread-out times.
	db.Exec(t, fmt.Sprintf(`INSERT INTO django_session
		SELECT 'k' || lpad(i::text, 31, '0'), 'data' || i,
			CASE WHEN i %% 2 = 1 THEN '%s'::timestamptz - (i || ' seconds')::interval ELSE '%s'::timestamptz + interval '1 day' END
		FROM generate_series(0, %d) AS i`, now.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano), rows-1),
		`ANALYZE django_session`)
	s, err := dbstore.Open(ctx, db.Config(t, true))
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.ClearExpired(ctx, now, dbstore.ClearOptions{Batch: batch}, nil)
	s.Close() // its connections end, and report their statistics as they do
	if err != nil || n != rows/2 {
		t.Fatalf("ClearExpired: %d, %v; want %d", n, err, rows/2)
	}
	conn := db.Open(t)
	var read int64
	for deadline := time.Now().Add(10 * time.Second); read == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := conn.QueryRowContext(ctx, `SELECT pg_stat_clear_snapshot()`).Err(); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, `SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
			FROM pg_stat_user_tables WHERE relname = 'django_session'`).Scan(&read); err != nil {
			t.Fatal(err)
		}
	}
	if read == 0 {
		t.Fatal("no tuple reads reported in 10 s")
	}
	if read > 3*rows {
		t.Errorf("clearing %d of %d rows in batches of %d read %d tuples, want at most %d", rows/2, rows, batch, read, 3*rows)
	} else {
		t.Logf("clearing %d of %d rows in batches of %d read %d tuples", rows/2, rows, batch, read)
	}
	var left, expiredLeft int
	if err := conn.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE expire_date < $1) FROM django_session`, now).Scan(&left, &expiredLeft); err != nil {
		t.Fatal(err)
	}
	if left != rows/2 || expiredLeft != 0 {
		t.Errorf("%d rows left, %d of them expired; want %d, none", left, expiredLeft, rows/2)
	}
}
