package dbstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/dbtest"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// ClearExpired in batches on the servers, by both of its ways of deleting:
// DELETE ... RETURNING (PostgreSQL, MariaDB) and, as on MySQL, a locked
// SELECT then DELETE by key. Each removes exactly the expired rows and
// reports each once.
func TestClearExpiredBatchesOnServers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		server    func(testing.TB) *dbtest.Server
		returning bool
	}{
		{"postgresql", dbtest.Postgres, true},
		{"mariadb", dbtest.MariaDB, true},
		{"mariadb-as-mysql", dbtest.MariaDB, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := tc.server(t).NewDatabase(t)
			db.CreateSessionTable(t)
			s, err := dbstore.Open(ctx, db.Config(t, true))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !tc.returning {
				dbstore.WithoutReturning(s)
			}
			if dbstore.Returning(s) != tc.returning {
				t.Fatalf("returning = %v", dbstore.Returning(s))
			}
			now := time.Now()
			const expired, live = 2345, 300
			var values []string
			for i := range expired + live {
				exp := now.Add(-time.Duration(i+1) * time.Second)
				if i >= expired {
					exp = now.Add(time.Hour)
				}
				values = append(values, fmt.Sprintf("('%s', 'data%d', '%s')", key(i), i, exp.UTC().Format("2006-01-02 15:04:05.000000")))
			}
			q := "INSERT INTO django_session VALUES " + strings.Join(values, ", ")
			if tc.name == "postgresql" {
				db.Exec(t, "SET TIME ZONE 'UTC'; "+q)
			} else {
				db.Exec(t, q)
			}
			seen := map[string]bool{}
			n, err := s.ClearExpired(ctx, now, dbstore.ClearOptions{DryRun: true, Batch: 1000}, func(r dbstore.Row) error {
				seen[r.Key] = true
				return nil
			})
			if err != nil || n != expired || len(seen) != expired {
				t.Fatalf("dry run: %d, %v, %d distinct", n, err, len(seen))
			}
			// First the rows expired over 20 minutes ago, without their data,
			// then the rest with it.
			removed := map[string]bool{}
			older := now.Add(-1200 * time.Second)
			n1, err := s.ClearExpired(ctx, older, dbstore.ClearOptions{Batch: 1000}, func(r dbstore.Row) error {
				if removed[r.Key] || !seen[r.Key] || r.Data != "" || !r.ExpireDate.Before(older) {
					t.Errorf("removed %+v", r)
				}
				removed[r.Key] = true
				return nil
			})
			if err != nil || n1 != expired-1200 {
				t.Fatalf("clear before %v: %d, %v", older, n1, err)
			}
			n, err = s.ClearExpired(ctx, now, dbstore.ClearOptions{Batch: 1000, WithData: true}, func(r dbstore.Row) error {
				if removed[r.Key] || !seen[r.Key] || !strings.HasPrefix(r.Data, "data") || !r.ExpireDate.Before(now) {
					t.Errorf("removed %+v", r)
				}
				removed[r.Key] = true
				return nil
			})
			if err != nil || n1+n != expired || len(removed) != expired {
				t.Fatalf("clear: %d+%d, %v, %d distinct", n1, n, err, len(removed))
			}
			left := 0
			s.Scan(ctx, dbstore.ScanOptions{KeysOnly: true}, func(r dbstore.Row) error { //nolint:errcheck
				left++
				if r.Expired(now) {
					t.Errorf("expired row %s left", r.Key)
				}
				return nil
			})
			if left != live {
				t.Errorf("%d rows left, want %d", left, live)
			}
		})
	}
}

// The row operations and their guards on the servers (SQLite's run in
// TestSQLiteRowOperations).
func TestRowOperationsOnServers(t *testing.T) {
	for name, srv := range map[string]func(testing.TB) *dbtest.Server{"postgresql": dbtest.Postgres, "mariadb": dbtest.MariaDB} {
		t.Run(name, func(t *testing.T) {
			db := srv(t).NewDatabase(t)
			db.CreateSessionTable(t)
			s, err := dbstore.Open(context.Background(), db.Config(t, true))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			testRowOperations(t, s, func(q string) { db.Exec(t, q) })
		})
	}
}
