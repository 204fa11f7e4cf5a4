package dbinterop

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/dbtest"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

var servers = []dbstore.Engine{dbstore.PostgreSQL, dbstore.MySQL}

func server(t testing.TB, engine dbstore.Engine) *dbtest.Server {
	if engine == dbstore.PostgreSQL {
		return dbtest.Postgres(t)
	}
	return dbtest.MariaDB(t)
}

// A wrong password fails Open with ErrAuth, naming the server, and the
// message holds neither the password given nor the right one.
func TestWrongPassword(t *testing.T) {
	for _, engine := range servers {
		for _, socket := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/socket=%v", engine, socket), func(t *testing.T) {
				db := server(t, engine).NewDatabase(t)
				db.CreateSessionTable(t)
				cfg := db.Config(t, socket)
				wrong := "Wr0ng-" + db.Password[3:]
				cfg.Password = dbstore.Secret(wrong)
				start := time.Now()
				_, err := dbstore.Open(context.Background(), cfg)
				if !errors.Is(err, dbstore.ErrAuth) {
					t.Fatalf("Open with a wrong password: %v", err)
				}
				msg := err.Error()
				for _, secret := range []string{wrong, db.Password, db.Server.AdminPassword, "Wr0ng"} {
					if strings.Contains(msg, secret) {
						t.Errorf("the message shows a password (%q): %s", secret, msg)
					}
				}
				target := db.Server.Socket
				if !socket {
					target = fmt.Sprintf("%s:%d", db.Server.Host, db.Server.Port)
				}
				if engine == dbstore.PostgreSQL && socket {
					target = db.Server.Socket // the socket's directory
				}
				if !strings.Contains(msg, target) || !strings.Contains(msg, db.User) {
					t.Errorf("the message names neither %s nor the user %s: %s", target, db.User, msg)
				}
				if took := time.Since(start); took > 10*time.Second {
					t.Errorf("Open took %v", took)
				}
				t.Logf("%s", msg)
			})
		}
	}
}

// PostgreSQL's own password conventions work when the URL has none:
// PGPASSWORD, a password file (PGPASSFILE, ~/.pgpass) and a service file.
func TestPostgresPasswordSources(t *testing.T) {
	db := dbtest.Postgres(t).NewDatabase(t)
	db.CreateSessionTable(t)
	open := func(t *testing.T, url string) error {
		cfg, err := dbstore.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		s, err := dbstore.Open(context.Background(), cfg)
		if err == nil {
			s.Close()
		}
		return err
	}
	for _, v := range []string{"PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGHOST", "PGUSER", "PGDATABASE", "PGPORT"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	t.Setenv("HOME", t.TempDir()) // no ~/.pgpass of the machine's
	noPW := db.URL(false)
	if err := open(t, noPW); !errors.Is(err, dbstore.ErrAuth) {
		t.Fatalf("without any password: %v", err)
	}
	t.Run("PGPASSWORD", func(t *testing.T) {
		t.Setenv("PGPASSWORD", db.Password)
		if err := open(t, noPW); err != nil {
			t.Error(err)
		}
	})
	t.Run("pgpass", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "pgpass")
		line := fmt.Sprintf("%s:%d:%s:%s:%s\n", db.Server.Host, db.Server.Port, db.Name, db.User, strings.ReplaceAll(db.Password, ":", `\:`))
		if err := os.WriteFile(f, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PGPASSFILE", f)
		if err := open(t, noPW); err != nil {
			t.Error(err)
		}
	})
	t.Run("service", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "pg_service.conf")
		conf := fmt.Sprintf("[site]\nhost=%s\nport=%d\nuser=%s\npassword=%s\nsslmode=disable\n", db.Server.Host, db.Server.Port, db.User, db.Password)
		if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PGSERVICEFILE", f)
		if err := open(t, "postgres:///"+db.Name+"?service=site"); err != nil {
			t.Error(err)
		}
	})
}

// A database Django never migrated: Open says what to run.
func TestMissingTable(t *testing.T) {
	for _, engine := range servers {
		t.Run(string(engine), func(t *testing.T) {
			db := server(t, engine).NewDatabase(t)
			_, err := dbstore.Open(context.Background(), db.Config(t, true))
			if !errors.Is(err, dbstore.ErrSchema) || !strings.Contains(err.Error(), "manage.py migrate") {
				t.Errorf("Open: %v", err)
			}
		})
	}
}

// Nothing listens: Open fails at once with ErrUnavailable naming the
// address.
func TestNothingListening(t *testing.T) {
	for _, engine := range servers {
		t.Run(string(engine), func(t *testing.T) {
			db := server(t, engine).NewDatabase(t)
			cfg := db.Config(t, false)
			l, err := netListenFree()
			if err != nil {
				t.Fatal(err)
			}
			cfg.Port = l
			start := time.Now()
			_, err = dbstore.Open(context.Background(), cfg)
			if !errors.Is(err, dbstore.ErrUnavailable) || !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(l)) {
				t.Errorf("Open: %v", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Open took %v", took)
			}
			t.Logf("%v", err)
		})
	}
}

// A server that stops answering (connections open, no bytes) makes every
// call fail within its timeout, never hang; when it answers again the same
// Store works. A server that goes away (connections closed) fails calls at
// once, and the Store reconnects when it is back.
func TestServerHangsAndComesBack(t *testing.T) {
	for _, engine := range servers {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			db := server(t, engine).NewDatabase(t)
			db.CreateSessionTable(t)
			proxy := db.Server.NewProxy(t)
			cfg := db.ConfigVia(t, proxy)
			cfg.StatementTimeout = 800 * time.Millisecond
			cfg.ConnectTimeout = 500 * time.Millisecond
			s, err := dbstore.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			k := keyOf("hang", 1)
			w, err := s.Insert(ctx, k, "data", time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}

			ss, err := dbstore.NewSessions(s, dbstore.SessionConfig{Codec: newCodec(t)})
			if err != nil {
				t.Fatal(err)
			}
			proxy.Stall()
			for name, op := range map[string]func() error{
				// Through the store contract: the store's own unavailable
				// error, which the mount answers with EIO.
				"Sessions.Stat": func() error { _, err := ss.Stat(ctx, k); return err },
				"Sessions.Save": func() error { _, err := ss.Save(ctx, k, []byte(`{}`), store.SaveOptions{}); return err },
				"Sessions.Scan": func() error { return ss.Scan(ctx, func(store.Entry) error { return nil }) },
				"Sessions.ClearExpired": func() error {
					_, err := ss.ClearExpired(ctx, store.ClearOptions{}, nil)
					return err
				},
				"Get":          func() error { _, err := s.Get(ctx, k); return err },
				"UpdateIf":     func() error { _, err := s.UpdateIf(ctx, k, w.Version, "x", time.Now()); return err },
				"Scan":         func() error { return s.Scan(ctx, dbstore.ScanOptions{}, func(dbstore.Row) error { return nil }) },
				"ClearExpired": func() error { _, err := s.ClearExpired(ctx, time.Now(), dbstore.ClearOptions{}, nil); return err },
				"Open": func() error {
					s2, err := dbstore.Open(ctx, cfg)
					if err == nil {
						s2.Close()
					}
					return err
				},
			} {
				start := time.Now()
				err := op()
				took := time.Since(start)
				if !errors.Is(err, dbstore.ErrUnavailable) || !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("%s on a hung server: %v", name, err)
				}
				if took > 6*time.Second {
					t.Errorf("%s returned after %v", name, took)
				}
				t.Logf("%s after %v: %v", name, took.Round(time.Millisecond), err)
			}
			proxy.Restore()
			if got, err := getSoon(ctx, s, k); err != nil || got.Data != "data" {
				t.Errorf("Get once the server answers again: %+v %v", got, err)
			}

			proxy.Cut()
			start := time.Now()
			if _, err := s.Get(ctx, k); !errors.Is(err, dbstore.ErrUnavailable) {
				t.Errorf("Get with the server gone: %v", err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Get with the server gone took %v", took)
			}
			proxy.Restore()
			if got, err := getSoon(ctx, s, k); err != nil || got.Data != "data" {
				t.Errorf("Get once the server is back: %+v %v", got, err)
			}
		})
	}
}

// getSoon retries Get for a moment: the first call after a cut may still
// meet a connection the pool had not found closed.
func getSoon(ctx context.Context, s *dbstore.Store, key string) (dbstore.Row, error) {
	var r dbstore.Row
	var err error
	for range 3 {
		if r, err = s.Get(ctx, key); err == nil {
			return r, nil
		}
	}
	return r, err
}

// The server itself stopped while sessionfs has it open: calls fail with
// ErrUnavailable, promptly.
func TestServerStopped(t *testing.T) {
	for _, engine := range servers {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			srv := dbtest.Start(t, engine)
			db := srv.NewDatabase(t)
			db.CreateSessionTable(t)
			cfg := db.Config(t, false)
			cfg.StatementTimeout = 3 * time.Second
			s, err := dbstore.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			k := keyOf("stop", 1)
			if _, err := s.Insert(ctx, k, "data", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				start := time.Now()
				_, err := s.Get(ctx, k)
				if !errors.Is(err, dbstore.ErrUnavailable) {
					t.Errorf("Get from a stopped server: %v", err)
				}
				if took := time.Since(start); took > 5*time.Second {
					t.Errorf("Get took %v", took)
				}
				t.Logf("%v", err)
			}
		})
	}
}

// A read-only database: reads work, every write fails with ErrReadOnly
// and changes nothing.
func TestReadOnlyDatabase(t *testing.T) {
	check := func(t *testing.T, s *dbstore.Store, k string) {
		ctx := context.Background()
		r, err := s.Get(ctx, k)
		if err != nil {
			t.Fatalf("Get from a read-only database: %v", err)
		}
		for name, op := range map[string]func() error{
			"Insert":   func() error { _, err := s.Insert(ctx, keyOf("rowrite", 2), "x", time.Now()); return err },
			"UpdateIf": func() error { _, err := s.UpdateIf(ctx, k, r.Version, "x", time.Now()); return err },
			"DeleteIf": func() error { return s.DeleteIf(ctx, k, r.Version) },
			"Delete":   func() error { return s.Delete(ctx, k) },
			"ClearExpired": func() error {
				_, err := s.ClearExpired(ctx, time.Now().Add(48*time.Hour), dbstore.ClearOptions{}, nil)
				return err
			},
		} {
			if err := op(); !errors.Is(err, dbstore.ErrReadOnly) {
				t.Errorf("%s on a read-only database: %v", name, err)
			}
		}
		// Through the store contract: the store's own read-only error, which
		// the mount answers with EROFS.
		ss, err := dbstore.NewSessions(s, dbstore.SessionConfig{Codec: newCodec(t)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ss.Stat(ctx, k); err != nil && !store.Undecodable(err) {
			t.Errorf("Stat on a read-only database: %v", err) // reading works
		}
		all := func(store.Entry) bool { return true }
		for name, op := range map[string]func() error{
			"Save": func() error { _, err := ss.Save(ctx, k, []byte(`{}`), store.SaveOptions{}); return err },
			"create": func() error {
				_, err := ss.Save(ctx, keyOf("rowrite", 3), []byte(`{}`), store.SaveOptions{MustCreate: true})
				return err
			},
			"RemoveIf": func() error { _, err := ss.RemoveIf(ctx, k, false, all); return err },
			"Renew":    func() error { _, err := ss.Renew(ctx, k, time.Now(), store.Version{}); return err },
			"Rename":   func() error { _, err := ss.Rename(ctx, k, keyOf("rowrite", 4)); return err },
		} {
			if err := op(); !errors.Is(err, store.ErrReadOnly) {
				t.Errorf("%s through the contract on a read-only database: %v", name, err)
			}
		}
		if again, err := s.Get(ctx, k); err != nil || !again.Version.Equal(r.Version) {
			t.Errorf("the row after refused writes: %+v %v", again, err)
		}
	}
	t.Run(string(dbstore.PostgreSQL), func(t *testing.T) {
		db := dbtest.Postgres(t).NewDatabase(t)
		db.CreateSessionTable(t)
		k := keyOf("rowrite", 1)
		db.Exec(t, fmt.Sprintf(`INSERT INTO django_session VALUES ('%s', 'd', now() + interval '1 hour')`, k))
		// What a hot standby or a read-only role answers: 25006.
		db.AdminExec(t, fmt.Sprintf(`ALTER DATABASE %s SET default_transaction_read_only = on`, db.Name))
		s, err := dbstore.Open(context.Background(), db.Config(t, true))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		check(t, s, k)
	})
	t.Run(string(dbstore.MySQL), func(t *testing.T) {
		db := dbtest.MariaDB(t).NewDatabase(t)
		db.CreateSessionTable(t)
		k := keyOf("rowrite", 1)
		db.Exec(t, fmt.Sprintf(`INSERT INTO django_session VALUES ('%s', 'd', NOW() + INTERVAL 1 HOUR)`, k))
		s, err := dbstore.Open(context.Background(), db.Config(t, true))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// A replica's read_only: users without READ ONLY ADMIN cannot write.
		db.AdminExec(t, "SET GLOBAL read_only = 1")
		t.Cleanup(func() { db.AdminExec(t, "SET GLOBAL read_only = 0") })
		check(t, s, k)
	})
	t.Run(string(dbstore.SQLite), func(t *testing.T) {
		s := newSite(t, dbstore.SQLite, siteOptions{noMigrate: true})
		// The site's file on a file system mounted read-only.
		if os.Geteuid() != 0 {
			harness.Missing(t, "root, to mount a read-only file system")
		}
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", dir).Run() }) //nolint:errcheck
		s.path = filepath.Join(dir, "db.sqlite3")
		s.settings.Database["NAME"] = s.path
		s.cfg.Name = s.path
		var tables []string
		s.dj.Call(t, s.settings, harness.OpMigrate, nil, &tables)
		k := keyOf("rowrite", 1)
		s.djangoSave(true, map[string]string{k: `{"a": 1}`})
		if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount: %v: %s", err, out)
		}
		s.open()
		check(t, s.store, k)
	})
}

// A 10 MB session_data goes in and out whole on every engine, also as the
// old value a guarded update compares with.
func TestLargeSessionData(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			s := newSite(t, engine, siteOptions{})
			blob := make([]byte, 7_600_000)
			rand.Read(blob) //nolint:errcheck
			js := `{"_auth_user_id": "42", "blob": "` + base64.StdEncoding.EncodeToString(blob) + `"}`
			data := s.encode(js)
			if len(data) < 10_000_000 {
				t.Fatalf("session_data is only %d bytes", len(data))
			}
			k := keyOf("large", 1)
			w, err := s.store.Insert(ctx, k, data, time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.store.Get(ctx, k)
			if err != nil || r.Data != data || !r.Version.Equal(w.Version) {
				t.Fatalf("Get: %d bytes, %v", len(r.Data), err)
			}
			data2 := s.encode(strings.Replace(js, `"42"`, `"43"`, 1))
			if _, err := s.store.UpdateIf(ctx, k, r.Version, data2, r.ExpireDate); err != nil {
				t.Fatalf("UpdateIf of 10 MB over 10 MB: %v", err)
			}
			n := 0
			if err := s.store.Scan(ctx, dbstore.ScanOptions{}, func(r dbstore.Row) error {
				n++
				if r.Data != data2 {
					t.Errorf("scanned %d bytes", len(r.Data))
				}
				return nil
			}); err != nil || n != 1 {
				t.Errorf("Scan: %d rows, %v", n, err)
			}
			if engine != dbstore.MySQL {
				return // Django's own reading of large rows is not under test
			}
			// MySQL's packets are at most max_allowed_packet: Django reads
			// back what went out in pieces.
			l := s.djangoLoad(k)[0]
			if !l.OK || !strings.Contains(string(l.Data), `"43"`) || len(l.Data) < 10_000_000 {
				t.Errorf("Django load: ok=%v, %d bytes", l.OK, len(l.Data))
			}
		})
	}
}

// MySQL's default collation compares keys without case: a stored key that
// is not Django's shape is never taken for a Django key.
func TestMySQLKeyCase(t *testing.T) {
	ctx := context.Background()
	db := dbtest.MariaDB(t).NewDatabase(t)
	db.CreateSessionTable(t)
	upper := strings.ToUpper(keyOf("case", 1))
	db.Exec(t, fmt.Sprintf("INSERT INTO django_session VALUES ('%s', 'd', NOW() + INTERVAL 1 HOUR)", upper))
	s, err := dbstore.Open(ctx, db.Config(t, true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Get(ctx, keyOf("case", 1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of the lower-case key: %v", err)
	}
	var keys []string
	s.Scan(ctx, dbstore.ScanOptions{}, func(r dbstore.Row) error { keys = append(keys, r.Key); return nil }) //nolint:errcheck
	if len(keys) != 1 || keys[0] != upper || s.CheckKey(keys[0]) == nil {
		t.Errorf("Scan: %v", keys)
	}
}
