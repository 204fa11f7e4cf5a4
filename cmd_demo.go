package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// demoCommand is `sessionfs demo`.
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:   "demo",
		Usage:  "mount ./mnt over ./.sessions with a development key and a few demo sessions (make run); with --session-engine db, over a SQLite table in .sessions/db.sqlite3",
		Flags:  mountFlags(),
		Action: demoAction,
	}
}

// Demo defaults: `make run` works with no flags on a fresh checkout.
const (
	demoBacking = ".sessions"
	demoKeyFile = ".sessions.key"
	demoMount   = "mnt"
	demoSQLite  = "db.sqlite3" // in demoBacking, for --session-engine db
)

// demoSQLiteDDL is the django_session table as `manage.py migrate` of
// django.contrib.sessions creates it on SQLite (Django 1.11 to 5.2).
var demoSQLiteDDL = []string{
	`CREATE TABLE IF NOT EXISTS "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS "django_session_expire_date_a5c62663" ON "django_session" ("expire_date")`,
}

// demoAction prepares ./.sessions, a development secret key beside it
// (0600, generated once) and ./mnt, adds a few sessions when the backing
// directory is empty, and serves the mount like `mount`.
func demoAction(c *cli.Context) error {
	eng, err := parseEngine(settingString(c, flagSessionEngine))
	if err != nil {
		return err
	}
	if eng.Kind == engineDB {
		if err := prepareDemoDB(c); err != nil {
			return err
		}
	} else if !givenExplicitly(c, flagSessionFilePath) {
		if err := os.MkdirAll(demoBacking, 0o700); err != nil {
			return fmt.Errorf("demo backing directory: %w", err)
		}
		if err := c.Set(flagSessionFilePath, demoBacking); err != nil {
			return err
		}
	}
	if !givenExplicitly(c, flagSecretKeyFile) && os.Getenv(envSecretKey) == "" {
		if err := ensureDemoKey(demoKeyFile); err != nil {
			return err
		}
		if err := c.Set(flagSecretKeyFile, demoKeyFile); err != nil {
			return err
		}
	}
	mnt := demoMount
	if c.NArg() > 0 {
		mnt = c.Args().First()
	}
	if err := os.MkdirAll(mnt, 0o700); err != nil && !errors.Is(err, syscall.ENOTCONN) && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("demo mount point: %w", err)
	}
	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := seedDemoSessions(c.Context, st)
	if err != nil {
		return err
	}
	return serve(c, st, mnt, demoBanner(st, mnt, keys))
}

// prepareDemoDB makes the demo's SQLite database, .sessions/db.sqlite3 with
// Django's session table, unless a database is named, and points
// --database-url at it.
func prepareDemoDB(c *cli.Context) error {
	if raw, _, err := databaseURL(c); err != nil || raw != "" {
		return err
	}
	if _, ok := djangoDatabase(); ok {
		return nil
	}
	if err := os.MkdirAll(demoBacking, 0o700); err != nil {
		return fmt.Errorf("demo directory: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(demoBacking, demoSQLite))
	if err != nil {
		return fmt.Errorf("demo database: %w", err)
	}
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err != nil {
		return fmt.Errorf("demo database: %w", err)
	} else {
		f.Close()
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw")
	if err != nil {
		return fmt.Errorf("demo database %s: %w", path, err)
	}
	defer db.Close()
	for _, stmt := range demoSQLiteDDL {
		if _, err := db.ExecContext(c.Context, stmt); err != nil {
			return fmt.Errorf("demo database %s: creating the session table: %w", path, err)
		}
	}
	return c.Set(flagDatabaseURL, "sqlite:///"+path)
}

// ensureDemoKey writes a random development SECRET_KEY to path unless it exists.
func ensureDemoKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)"
	key := []byte(rand.Text() + rand.Text())
	for i := range key {
		key[i] = alphabet[int(key[i])%len(alphabet)]
	}
	if err := os.WriteFile(path, append(key, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing the demo secret key: %w", err)
	}
	return nil
}

// demoSessions are what a small Django site keeps in sessions.
var demoSessions = []string{
	`{"_auth_user_id": "1", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend", "_auth_user_hash": "5f4dcc3b5aa765d61d8327deb882cf99", "theme": "dark"}`,
	`{"cart": [{"sku": "TEA-42", "qty": 2}, {"sku": "MUG-7", "qty": 1}], "currency": "EUR"}`,
	`{"_auth_user_id": "42", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend", "_auth_user_hash": "0d107d09f5bbe40cade3de5c71e9e9b7", "django_language": "fr", "visits": 17}`,
}

// seedDemoSessions saves the demo sessions when the directory has none and
// returns the keys of the sessions it holds.
func seedDemoSessions(ctx context.Context, st store.Store) ([]string, error) {
	var keys []string
	err := st.Scan(ctx, func(e store.Entry) error {
		keys = append(keys, e.Key)
		return nil
	})
	if err != nil || len(keys) > 0 {
		return keys, err
	}
	for _, js := range demoSessions {
		key := demoKey()
		if _, err := st.Save(ctx, key, []byte(js), store.SaveOptions{MustCreate: true}); err != nil {
			return nil, fmt.Errorf("creating demo session: %w", err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// demoKey is a new key as Django makes them: 32 characters of [a-z0-9].
func demoKey() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte(rand.Text() + rand.Text())[:32]
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

func demoBanner(st store.Store, mnt string, keys []string) string {
	key := "KEY"
	if len(keys) > 0 {
		key = keys[0]
	}
	django := fmt.Sprintf(`Point Django at the backing directory to serve these sessions:
  SESSION_ENGINE = "django.contrib.sessions.backends.file"
  SESSION_FILE_PATH = %q
`, absPath(st.Describe().Dir))
	if db, ok := st.(*dbstore.Sessions); ok {
		django = fmt.Sprintf(`The sessions are rows of %s; point Django at it to serve them:
  SESSION_ENGINE = "django.contrib.sessions.backends.db"
  DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": %q}}
`, db.Describe().Location, db.DB().Config().Name)
	}
	secret := fmt.Sprintf("  SECRET_KEY = open(%q).read().strip()\n", absPath(demoKeyFile))
	return fmt.Sprintf(`
Try, in another shell:
  ls -l %[1]s
  cat %[1]s/%[2]s.json
  sed -i 's/"dark"/"light"/' %[1]s/%[2]s.json     # edit in place; invalid JSON is refused (EINVAL)
  vim %[1]s/%[2]s.json
  rm %[1]s/%[2]s.json                               # logs that user out
%[3]s%[4]sCtrl-C unmounts.
`, mnt, key, django, secret)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
