package main

// The settings of Django's database session backend: where the database is
// (a dj-database-url URL, or the site's DATABASES through --django-settings),
// the session model's table and how Django reads its naive expire_date.
//
// A password is never taken from the command line, where every user of the
// machine can read it: --database-url refuses a URL holding one, which comes
// instead from $DATABASE_URL, from --database-url-file, or from the
// database's own conventions (PGPASSWORD, ~/.pgpass, PGSERVICE).

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/djangosettings"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

const (
	flagDatabaseURL     = "database-url"
	flagDatabaseURLFile = "database-url-file"
	flagDBTable         = "db-table"
	flagUseTZ           = "use-tz"
	flagTimeZone        = "time-zone"
	flagDBTimeZone      = "db-time-zone"
	envDatabaseURL      = "DATABASE_URL"
	envDatabaseURLFile  = "DATABASE_URL_FILE"
	databaseCategory    = "Database (SESSION_ENGINE db)"
)

// dbFlags are the database settings, part of the shared settings. The two
// URL flags have no EnvVars: their environment variables are read by
// databaseURL itself, which must know whether a URL came from argv (where a
// password is refused) or from the environment.
func dbFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagDatabaseURL, Category: databaseCategory,
			Usage: "the session database as a dj-database-url `URL`: sqlite:////abs/db.sqlite3, postgres://user@host:5432/name, mysql://user@host:3306/name; " +
				"a URL with a password is refused here (use $" + envDatabaseURL + " or --" + flagDatabaseURLFile + ") [$" + envDatabaseURL + "]"},
		&cli.StringFlag{Name: flagDatabaseURLFile, Category: databaseCategory, TakesFile: true,
			Usage: "`FILE` holding the database URL, password included (one trailing newline dropped) [$" + envDatabaseURLFile + "]"},
		&cli.StringFlag{Name: flagDBTable, Category: databaseCategory, EnvVars: []string{"SESSION_DB_TABLE"},
			Usage: "the session model's db_table (default: the engine's, django_session for Django's)"},
		&cli.BoolFlag{Name: flagUseTZ, Category: databaseCategory, EnvVars: []string{"USE_TZ"}, Value: true,
			Usage: "USE_TZ: SQLite's and MySQL's naive expire_date is UTC (--use-tz=false: wall clock in --time-zone)"},
		&cli.StringFlag{Name: flagTimeZone, Category: databaseCategory, EnvVars: []string{"TIME_ZONE"},
			Usage: "TIME_ZONE (an IANA `ZONE`): the zone of naive dates when --use-tz=false, and of a naive _session_expiry"},
		&cli.StringFlag{Name: flagDBTimeZone, Category: databaseCategory, EnvVars: []string{"DB_TIME_ZONE"},
			Usage: "DATABASES[alias][\"TIME_ZONE\"] (a `ZONE`): the zone SQLite and MySQL store naive dates in with USE_TZ"},
	}
}

// maxURLFile bounds a file holding a database or cache URL.
const maxURLFile = 16 << 10

// givenOnCommandLine returns the value of a flag without environment
// variables, given on any level, the command's own first.
func givenOnCommandLine(c *cli.Context, name string) (string, bool) {
	for _, ctx := range c.Lineage() {
		if flagSetLocally(ctx, name) {
			return ctx.String(name), true
		}
	}
	return "", false
}

// databaseURL returns the database URL the settings name and where it came
// from (for messages), or "" when none does. A flag on the command line
// beats an environment variable; the URL itself beats a file of it at the
// same level, and giving both there is refused as ambiguous.
func databaseURL(c *cli.Context) (url, from string, err error) {
	argURL, hasArgURL := givenOnCommandLine(c, flagDatabaseURL)
	argFile, hasArgFile := givenOnCommandLine(c, flagDatabaseURLFile)
	switch {
	case hasArgURL && hasArgFile:
		return "", "", usageErrorf("give --%s or --%s, not both", flagDatabaseURL, flagDatabaseURLFile)
	case hasArgURL:
		if dbstore.HasPassword(argURL) {
			return "", "", usageErrorf("--%s holds a password, which every user of this machine can read on a command line: "+
				"put the URL in $%s or in a file named by --%s, or leave the password to the database's own conventions (PGPASSWORD, ~/.pgpass)",
				flagDatabaseURL, envDatabaseURL, flagDatabaseURLFile)
		}
		return argURL, "--" + flagDatabaseURL, nil
	case hasArgFile:
		return readURLFile("database", argFile)
	}
	envURL, hasEnvURL := os.LookupEnv(envDatabaseURL)
	envFile, hasEnvFile := os.LookupEnv(envDatabaseURLFile)
	hasEnvURL, hasEnvFile = hasEnvURL && envURL != "", hasEnvFile && envFile != ""
	switch {
	case hasEnvURL && hasEnvFile:
		return "", "", usageErrorf("set $%s or $%s, not both", envDatabaseURL, envDatabaseURLFile)
	case hasEnvURL:
		return strings.TrimSpace(envURL), "$" + envDatabaseURL, nil
	case hasEnvFile:
		return readURLFile("database", envFile)
	}
	return "", "", nil
}

// readURLFile reads a server's URL (what: "database", "cache") from a
// file: one line, surrounding white space dropped. It returns the URL and
// where it came from, for messages.
func readURLFile(what, path string) (string, string, error) {
	from := what + " URL file " + path
	b, err := readUserFile(what+" URL file", path, maxURLFile)
	if err != nil {
		return "", "", usageError(err)
	}
	u := strings.TrimSpace(string(b))
	if u == "" {
		return "", "", usageErrorf("%s is empty", from)
	}
	if strings.ContainsAny(u, "\r\n") {
		return "", "", usageErrorf("%s holds more than one line", from)
	}
	return u, from, nil
}

// dbConfig is the database of the settings: the URL's (flag, file or
// environment), else the site's DATABASES read through --django-settings;
// then the table and time-zone settings applied.
func dbConfig(c *cli.Context, eng sessionEngine) (dbstore.Config, error) {
	raw, from, err := databaseURL(c)
	if err != nil {
		return dbstore.Config{}, err
	}
	var cfg dbstore.Config
	switch {
	case raw != "":
		if cfg, err = dbstore.ParseURL(raw); err != nil {
			return dbstore.Config{}, usageErrorf("%s: %w", from, err)
		}
	default:
		d, ok := djangoDatabase()
		if !ok {
			return dbstore.Config{}, usageErrorf("SESSION_ENGINE %s needs the database: give --%s URL, $%s, --%s FILE, or --%s MODULE",
				eng.Kind, flagDatabaseURL, envDatabaseURL, flagDatabaseURLFile, flagDjangoSettings)
		}
		if cfg, err = d.config(); err != nil {
			return dbstore.Config{}, usageError(err)
		}
	}
	table := settingString(c, flagDBTable)
	if table == "" {
		table = eng.Table
	}
	if table == "" {
		table = dbstore.DefaultTable
	}
	cfg.Table = table
	cfg.UseTZ = settingBool(c, flagUseTZ)
	if tz := settingString(c, flagTimeZone); tz != "" || givenExplicitly(c, flagTimeZone) {
		cfg.TimeZone = tz
	}
	if tz := settingString(c, flagDBTimeZone); tz != "" || givenExplicitly(c, flagDBTimeZone) {
		cfg.DBTimeZone = tz
	}
	return cfg, nil
}

// djangoDB is the session model's database as read from Django.
type djangoDB struct{ *djangosettings.Database }

// djangoDatabase is the database --django-settings read, if any.
func djangoDatabase() (djangoDB, bool) {
	djangoLoaded.Lock()
	defer djangoLoaded.Unlock()
	if djangoLoaded.settings == nil || djangoLoaded.settings.Database == nil {
		return djangoDB{}, false
	}
	return djangoDB{djangoLoaded.settings.Database}, true
}

// djangoEngines maps Django's database ENGINE to the URL scheme of the
// engine sessionfs drives (the GIS backends keep sessions in the same plain
// table).
var djangoEngines = map[string]string{
	"django.db.backends.sqlite3":                "sqlite",
	"django.contrib.gis.db.backends.spatialite": "sqlite",
	"django.db.backends.postgresql":             "postgres",
	"django.db.backends.postgresql_psycopg2":    "postgres",
	"django.contrib.gis.db.backends.postgis":    "postgres",
	"django.db.backends.mysql":                  "mysql",
	"django.contrib.gis.db.backends.mysql":      "mysql",
}

// djangoOnlyOptions are OPTIONS Django's backends consume themselves,
// which are no connection parameters of the database's own.
var djangoOnlyOptions = map[string]bool{
	"isolation_level": true, "assume_role": true, "server_side_binding": true, "pool": true,
	"init_command": true, "sql_mode": true, "transaction_mode": true,
	"check_same_thread": true, "detect_types": true, "client_encoding": true,
	"autocommit": true, "use_unicode": true,
}

// config turns a DATABASES entry into a dbstore.Config by way of the URL
// dj-database-url would have made of it, so both go through one parser.
// The password stays out of the URL (and so out of every message).
func (d djangoDB) config() (dbstore.Config, error) {
	scheme, ok := djangoEngines[d.Engine]
	if !ok {
		return dbstore.Config{}, fmt.Errorf("DATABASES[%q] ENGINE %s: sessionfs serves sqlite3, postgresql and mysql", d.Alias, d.Engine)
	}
	q := url.Values{}
	for k, v := range d.Options {
		if djangoOnlyOptions[k] {
			continue
		}
		switch v := v.(type) {
		case nil:
		case map[string]any:
			// MySQLdb's ssl={"ca": path}.
			if k == "ssl" {
				if ca, ok := v["ca"].(string); ok && ca != "" {
					q.Set("ssl-ca", ca)
				}
			}
		case float64:
			q.Set(k, strconv.FormatFloat(v, 'f', -1, 64))
		case bool:
			q.Set(k, strconv.FormatBool(v))
		default:
			q.Set(k, fmt.Sprint(v))
		}
	}
	var u strings.Builder
	u.WriteString(scheme + "://")
	switch scheme {
	case "sqlite":
		if d.Name == "" || d.Name == ":memory:" {
			return dbstore.Config{}, fmt.Errorf("DATABASES[%q] is an in-memory SQLite database: it holds no sessions to serve", d.Alias)
		}
		u.WriteString("/" + url.PathEscape(d.Name))
	default:
		if d.User != "" {
			u.WriteString(url.PathEscape(d.User) + "@")
		}
		if strings.HasPrefix(d.Host, "/") {
			// A unix socket (PostgreSQL: its directory; MySQL: the file).
			u.WriteString(url.PathEscape(d.Host))
		} else if d.Host != "" {
			u.WriteString(hostPort(d.Host, d.Port))
		} else if d.Port != "" {
			u.WriteString(hostPort("localhost", d.Port))
		}
		u.WriteString("/" + url.PathEscape(d.Name))
	}
	if len(q) > 0 {
		u.WriteString("?" + q.Encode())
	}
	cfg, err := dbstore.ParseURL(u.String())
	if err != nil {
		return dbstore.Config{}, fmt.Errorf("DATABASES[%q]: %w", d.Alias, err)
	}
	if len(d.Password) > 0 {
		cfg.Password = dbstore.Secret(d.Password)
	}
	cfg.DBTimeZone = d.TimeZone
	return cfg, nil
}

func hostPort(host, port string) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" {
		return host
	}
	return host + ":" + port
}
