package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/djangosettings"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// dbConfigOf runs a command with the shared settings at both levels, as
// newApp does, in an environment of env only (for the variables the
// database settings read), and returns the database configuration chosen.
func dbConfigOf(t *testing.T, env map[string]string, args ...string) (dbstore.Config, error) {
	t.Helper()
	for _, k := range []string{envDatabaseURL, envDatabaseURLFile, "SESSION_DB_TABLE", "USE_TZ", "TIME_ZONE", "DB_TIME_ZONE", "SESSION_ENGINE"} {
		t.Setenv(k, env[k])
		if env[k] == "" {
			os.Unsetenv(k)
		}
	}
	var cfg dbstore.Config
	var cfgErr error
	app := &cli.App{
		Writer: io.Discard, ErrWriter: io.Discard,
		Flags: settingsFlags(),
		Commands: []*cli.Command{{
			Name:  "probe",
			Flags: commandLevel(settingsFlags()),
			Action: func(c *cli.Context) error {
				eng, err := parseEngine(settingString(c, flagSessionEngine))
				if err != nil {
					return err
				}
				cfg, cfgErr = dbConfig(c, eng)
				return nil
			},
		}},
	}
	if err := app.Run(append([]string{"sessionfs"}, args...)); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return cfg, cfgErr
}

func TestDatabaseURLRefusesPasswordInArgv(t *testing.T) {
	for _, u := range []string{
		"postgres://alice:s3cret-pw@db.example:5432/site",
		"postgres://alice@db.example/site?password=s3cret-pw",
		"mysql://alice:s3cret-pw@db.example/site",
		"mysql://alice@db.example/site?passwd=s3cret-pw",
	} {
		for _, args := range [][]string{
			{"--database-url", u, "probe"},
			{"probe", "--database-url", u},
		} {
			_, err := dbConfigOf(t, nil, args...)
			if err == nil || !strings.Contains(err.Error(), "password") {
				t.Errorf("%v: want a refusal naming the password, got %v", args, err)
				continue
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Errorf("%v: the refusal prints the password: %v", args, err)
			}
			if exitCode(err) != exitError {
				t.Errorf("%v: exit code %d, want %d", args, exitCode(err), exitError)
			}
		}
	}
}

func TestDatabaseURLSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "url")
	if err := os.WriteFile(file, []byte("postgres://filer:from-file@fhost/fdb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	envURL := "postgres://envuser:from-env@ehost/edb"
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		host, pw string
		wantErr  string
	}{
		{name: "env URL keeps its password", env: map[string]string{envDatabaseURL: envURL}, args: []string{"probe"}, host: "ehost", pw: "from-env"},
		{name: "file flag", args: []string{"probe", "--database-url-file", file}, host: "fhost", pw: "from-file"},
		{name: "file env", env: map[string]string{envDatabaseURLFile: file}, args: []string{"probe"}, host: "fhost", pw: "from-file"},
		{name: "argv URL beats env URL", env: map[string]string{envDatabaseURL: envURL}, args: []string{"--database-url", "postgres://a@argv/x", "probe"}, host: "argv"},
		{name: "argv URL after the command beats env", env: map[string]string{envDatabaseURL: envURL}, args: []string{"probe", "--database-url", "postgres://a@argv/x"}, host: "argv"},
		{name: "command's own flag beats the global one", args: []string{"--database-url", "postgres://a@global/x", "probe", "--database-url", "postgres://a@own/x"}, host: "own"},
		{name: "argv file beats env URL", env: map[string]string{envDatabaseURL: envURL}, args: []string{"--database-url-file", file, "probe"}, host: "fhost", pw: "from-file"},
		{name: "argv URL and file", args: []string{"--database-url", "postgres://a@h/x", "probe", "--database-url-file", file}, wantErr: "not both"},
		{name: "env URL and file", env: map[string]string{envDatabaseURL: envURL, envDatabaseURLFile: file}, args: []string{"probe"}, wantErr: "not both"},
		{name: "none", args: []string{"--session-engine", "db", "probe"}, wantErr: "--database-url"},
		{name: "missing file", args: []string{"probe", "--database-url-file", filepath.Join(dir, "nope")}, wantErr: "database URL file"},
		{name: "directory as file", args: []string{"probe", "--database-url-file", dir}, wantErr: "not a regular file"},
		{name: "bad scheme", args: []string{"probe", "--database-url", "oracle://a@h/x"}, wantErr: "not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := dbConfigOf(t, tc.env, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error with %q, got %v (config %v)", tc.wantErr, err, cfg)
				}
				for _, secret := range []string{"from-env", "from-file"} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("error prints a password: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tc.host || string(cfg.Password) != tc.pw {
				t.Fatalf("host %q password set %v, want %q and %q", cfg.Host, cfg.Password != "", tc.host, tc.pw)
			}
		})
	}
}

func TestDatabaseSettings(t *testing.T) {
	u := "sqlite:////srv/site/db.sqlite3"
	cases := []struct {
		name         string
		env          map[string]string
		args         []string
		table        string
		useTZ        bool
		tz, dbTZ     string
		wantErrInArg string
	}{
		{name: "defaults", args: []string{"probe", "--database-url", u}, table: "django_session", useTZ: true},
		{name: "engine's table", args: []string{"--session-engine", "user_sessions.backends.db", "probe", "--database-url", u}, table: "user_sessions_session", useTZ: true},
		{name: "qsessions table", args: []string{"--session-engine", "qsessions.backends.db", "probe", "--database-url", u}, table: "qsessions_session", useTZ: true},
		{name: "flag beats engine's table", args: []string{"--session-engine", "user_sessions.backends.db", "probe", "--database-url", u, "--db-table", "mine"}, table: "mine", useTZ: true},
		{name: "env table", env: map[string]string{"SESSION_DB_TABLE": "envtable"}, args: []string{"probe", "--database-url", u}, table: "envtable", useTZ: true},
		{name: "global flag beats env table", env: map[string]string{"SESSION_DB_TABLE": "envtable"}, args: []string{"--db-table", "flagtable", "probe", "--database-url", u}, table: "flagtable", useTZ: true},
		{name: "use-tz off", args: []string{"probe", "--database-url", u, "--use-tz=false", "--time-zone", "Europe/Paris"}, table: "django_session", tz: "Europe/Paris"},
		{name: "use-tz env off", env: map[string]string{"USE_TZ": "false", "TIME_ZONE": "Asia/Tokyo"}, args: []string{"probe", "--database-url", u}, table: "django_session", tz: "Asia/Tokyo"},
		{name: "flag beats USE_TZ env", env: map[string]string{"USE_TZ": "false"}, args: []string{"probe", "--database-url", u, "--use-tz"}, table: "django_session", useTZ: true},
		{name: "db time zone", env: map[string]string{"DB_TIME_ZONE": "America/New_York"}, args: []string{"probe", "--database-url", u}, table: "django_session", useTZ: true, dbTZ: "America/New_York"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := dbConfigOf(t, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Table != tc.table || cfg.UseTZ != tc.useTZ || cfg.TimeZone != tc.tz || cfg.DBTimeZone != tc.dbTZ {
				t.Fatalf("table %q use_tz %v time_zone %q db_time_zone %q; want %q %v %q %q",
					cfg.Table, cfg.UseTZ, cfg.TimeZone, cfg.DBTimeZone, tc.table, tc.useTZ, tc.tz, tc.dbTZ)
			}
		})
	}
}

func TestDjangoDatabaseConfig(t *testing.T) {
	cases := []struct {
		name string
		db   djangosettings.Database
		want dbstore.Config // Engine, Name, Host, Port, User, Password, DBTimeZone compared
		opts map[string]string
		err  string
	}{
		{name: "sqlite", db: djangosettings.Database{Alias: "default", Engine: "django.db.backends.sqlite3", Name: "/srv/site/db.sqlite3",
			Options: map[string]any{"timeout": float64(20), "check_same_thread": false}},
			want: dbstore.Config{Engine: dbstore.SQLite, Name: "/srv/site/db.sqlite3"}, opts: map[string]string{}},
		{name: "postgres tcp", db: djangosettings.Database{Alias: "default", Engine: "django.db.backends.postgresql", Name: "site", Host: "db.example", Port: "6432",
			User: "web", Password: []byte("p@ss:w/rd"), Options: map[string]any{"sslmode": "require", "isolation_level": float64(2)}},
			want: dbstore.Config{Engine: dbstore.PostgreSQL, Name: "site", Host: "db.example", Port: 6432, User: "web", Password: "p@ss:w/rd"},
			opts: map[string]string{"sslmode": "require"}},
		{name: "postgres socket, old engine name", db: djangosettings.Database{Alias: "sessions", Engine: "django.db.backends.postgresql_psycopg2", Name: "site", Host: "/var/run/postgresql", User: "web"},
			want: dbstore.Config{Engine: dbstore.PostgreSQL, Name: "site", Host: "/var/run/postgresql", User: "web"}, opts: map[string]string{}},
		{name: "mysql", db: djangosettings.Database{Alias: "default", Engine: "django.db.backends.mysql", Name: "site", Host: "127.0.0.1", Port: "3307", User: "web",
			Password: []byte("pw"), TimeZone: "Europe/Paris", Options: map[string]any{"charset": "utf8mb4", "ssl": map[string]any{"ca": "/etc/ca.pem"}, "init_command": "SET x=1"}},
			want: dbstore.Config{Engine: dbstore.MySQL, Name: "site", Host: "127.0.0.1", Port: 3307, User: "web", Password: "pw", DBTimeZone: "Europe/Paris"},
			opts: map[string]string{"charset": "utf8mb4", "ssl-ca": "/etc/ca.pem"}},
		{name: "mysql socket", db: djangosettings.Database{Alias: "default", Engine: "django.db.backends.mysql", Name: "site", Host: "/run/mysqld/mysqld.sock"},
			want: dbstore.Config{Engine: dbstore.MySQL, Name: "site", Host: "/run/mysqld/mysqld.sock"}, opts: map[string]string{}},
		{name: "mysql option file", db: djangosettings.Database{Alias: "default", Engine: "django.db.backends.mysql", Name: "site", Password: []byte("pw"),
			Options: map[string]any{"read_default_file": "/etc/my.cnf"}}, err: "option files"},
		{name: "oracle", db: djangosettings.Database{Alias: "default", Engine: "django.db.backends.oracle", Name: "x", Password: []byte("pw")}, err: "sessionfs serves"},
		{name: "in-memory sqlite", db: djangosettings.Database{Alias: "default", Engine: "django.db.backends.sqlite3", Name: ":memory:"}, err: "in-memory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := djangoDB{&tc.db}.config()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want an error with %q, got %v", tc.err, err)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Fatalf("error prints the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := dbstore.Config{Engine: cfg.Engine, Name: cfg.Name, Host: cfg.Host, Port: cfg.Port, User: cfg.User, Password: cfg.Password, DBTimeZone: cfg.DBTimeZone}
			if got.Engine != tc.want.Engine || got.Name != tc.want.Name || got.Host != tc.want.Host || got.Port != tc.want.Port ||
				got.User != tc.want.User || string(got.Password) != string(tc.want.Password) || got.DBTimeZone != tc.want.DBTimeZone {
				t.Fatalf("config %#v (password set %v), want %#v", got, got.Password != "", tc.want)
			}
			if len(cfg.Options) != len(tc.opts) {
				t.Fatalf("options %v, want %v", cfg.Options, tc.opts)
			}
			for k, v := range tc.opts {
				if cfg.Options[k] != v {
					t.Fatalf("options %v, want %v", cfg.Options, tc.opts)
				}
			}
			if strings.Contains(cfg.String(), "p@ss") || strings.Contains(tc.db.String(), "p@ss") {
				t.Fatalf("a description prints the password: %s / %s", cfg, tc.db)
			}
		})
	}
}
