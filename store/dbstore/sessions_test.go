package dbstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/dbtest"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/dbstore"
	"github.com/sessionfs/sessionfs/store/storetest"
)

const sessionSecret = "dbstore-sessions-test-secret-key-0123456789"

func newCodec(t testing.TB) *codec.Codec {
	t.Helper()
	c, err := codec.New(codec.Config{SecretKey: []byte(sessionSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sessionsOf serves the table cfg names through the store contract, with
// a small size bound (the conformance suite's test of it stays quick).
func sessionsOf(t testing.TB, cfg dbstore.Config, edit ...func(*dbstore.SessionConfig)) *dbstore.Sessions {
	t.Helper()
	db, err := dbstore.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc := dbstore.SessionConfig{Codec: newCodec(t), MaxSessionSize: 64 << 10}
	for _, e := range edit {
		e(&sc)
	}
	s, err := dbstore.NewSessions(db, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// instance is a storetest.Instance over s; Write saves as Django does, an
// UPDATE of the row (or an INSERT) with expire_date now + the cookie age.
func instance(s *dbstore.Sessions) storetest.Instance {
	return storetest.Instance{
		Store:     s,
		CookieAge: s.Config().CookieAge,
		MaxSize:   s.Config().MaxSessionSize,
		Write: func(t *testing.T, key string, raw []byte) {
			t.Helper()
			ctx := context.Background()
			db := s.DB()
			expire := time.Now().Add(s.Config().CookieAge)
			r, err := db.Get(ctx, key)
			switch {
			case errors.Is(err, store.ErrNotFound):
				_, err = db.Insert(ctx, key, string(raw), expire)
			case err == nil:
				_, err = db.UpdateIf(ctx, key, r.Version, string(raw), expire)
			}
			if err != nil {
				t.Fatalf("writing %s as Django: %v", key, err)
			}
		},
	}
}

// TestSessionsConformance: the database backend keeps every promise of
// the store contract, on each engine (the suite the file backend passes).
func TestSessionsConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Instance {
			return instance(sessionsOf(t, sqliteConfig(t, sqliteFile(t, djangoSQLiteDDL))))
		})
	})
	for _, tc := range []struct {
		name   string
		server func(testing.TB) *dbtest.Server
	}{
		{"postgresql", dbtest.Postgres},
		{"mariadb", dbtest.MariaDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.server(t).NewDatabase(t)
			n := 0
			storetest.Run(t, func(t *testing.T) storetest.Instance {
				// A table of its own for each test: cheaper than a database.
				n++
				table := fmt.Sprintf("sessions_%d", n)
				db.Exec(t, sessionTableDDL(db.Server.Engine, table)...)
				cfg := db.Config(t, true)
				cfg.Table = table
				return instance(sessionsOf(t, cfg))
			})
		})
	}
}

// sessionTableDDL is django_session's DDL (as dbtest creates it) under
// another name.
func sessionTableDDL(engine dbstore.Engine, table string) []string {
	if engine == dbstore.MySQL {
		return []string{fmt.Sprintf("CREATE TABLE `%s` (`session_key` varchar(40) NOT NULL PRIMARY KEY, `session_data` longtext NOT NULL, `expire_date` datetime(6) NOT NULL)", table),
			fmt.Sprintf("CREATE INDEX `%s_expire` ON `%s` (`expire_date`)", table, table)}
	}
	return []string{fmt.Sprintf(`CREATE TABLE %q ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL)`, table),
		fmt.Sprintf(`CREATE INDEX "%s_expire" ON %q ("expire_date")`, table, table)}
}

// countingCodec is the real codec, counting decodes.
type countingCodec struct {
	*codec.Codec
	decodes atomic.Int64
}

func (c *countingCodec) Decode(data []byte) ([]byte, codec.Info, error) {
	c.decodes.Add(1)
	return c.Codec.Decode(data)
}
