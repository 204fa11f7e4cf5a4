package dbstore

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Engine is the database server kind, named after Django's backends.
type Engine string

// The engines sessionfs serves.
const (
	SQLite     Engine = "sqlite"     // django.db.backends.sqlite3
	PostgreSQL Engine = "postgresql" // django.db.backends.postgresql
	MySQL      Engine = "mysql"      // django.db.backends.mysql (MySQL and MariaDB)
)

// schemes maps dj-database-url's URL schemes to engines. The GIS variants
// keep their sessions in the same plain table.
var schemes = map[string]Engine{
	"sqlite":     SQLite,
	"spatialite": SQLite,
	"postgres":   PostgreSQL,
	"postgresql": PostgreSQL,
	"pgsql":      PostgreSQL,
	"postgis":    PostgreSQL,
	"mysql":      MySQL,
	"mysql2":     MySQL,
	"mysqlgis":   MySQL,
}

// Defaults of a Config, as ParseURL fills them.
const (
	DefaultTable            = "django_session"
	DefaultConnectTimeout   = 10 * time.Second
	DefaultStatementTimeout = 30 * time.Second
	DefaultBusyTimeout      = 5 * time.Second // Django's sqlite3 "timeout" default
	DefaultMaxConns         = 4
)

// Config says where the session table is and how Django reads its
// expire_date. Start from ParseURL, which fills Django's defaults (a zero
// Config has USE_TZ false and no engine).
type Config struct {
	Engine Engine
	// Name is the database name, or the SQLite file's path.
	Name string
	// Host is a host name or address, or a unix socket: the socket's
	// directory for PostgreSQL (as libpq), the socket file for MySQL.
	// Empty means the driver's default.
	Host     string
	Port     int // 0: the driver's default
	User     string
	Password Secret // empty: the database's own conventions (PGPASSWORD, ~/.pgpass, PGSERVICE)
	// Options are the URL's query parameters (Django's OPTIONS). PostgreSQL
	// passes them to pgx as libpq keywords; MySQL and SQLite accept the few
	// listed in ParseURL.
	Options map[string]string

	Table string // the session model's db_table; default django_session

	// UseTZ, TimeZone and DBTimeZone are Django's USE_TZ, TIME_ZONE and
	// DATABASES[alias]["TIME_ZONE"]. They decide the zone of the naive
	// expire_date of SQLite and MySQL (PostgreSQL stores instants).
	UseTZ      bool
	TimeZone   string
	DBTimeZone string

	ConnectTimeout   time.Duration // establishing a connection
	StatementTimeout time.Duration // every statement, and every page of a scan
	BusyTimeout      time.Duration // SQLite: how long a statement waits for Django's lock
	MaxConns         int           // connection pool size
}

// Secret is a password. It prints as "xxxxx" through fmt, slog and text
// marshalling, so a Config can be logged whole; string(s) is the value.
type Secret string

const redactedMark = "xxxxx"

func (s Secret) mark() string {
	if s == "" {
		return ""
	}
	return redactedMark
}

// String implements fmt.Stringer.
func (s Secret) String() string { return s.mark() }

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return strconv.Quote(s.mark()) }

// Format implements fmt.Formatter: every verb prints the mark.
func (s Secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.mark()) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.mark()) }

// MarshalText implements encoding.TextMarshaler (JSON and others).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.mark()), nil }

// passwordKeys are query parameters that carry a secret: libpq's password
// and sslpassword, MySQLdb's passwd.
var passwordKeys = []string{"password", "passwd", "sslpassword"}

// rawURL is a database URL split the way dj-database-url splits it.
type rawURL struct {
	scheme, user, password, host, port, path string
	hasPassword                              bool
	query                                    url.Values
}

// splitURL parses scheme://[user[:password]@]host[:port]/path?query. It
// does not use net/url for the authority: dj-database-url accepts a
// percent-encoded unix socket path as the host (postgres://u@%2Fvar%2Frun/db),
// which net/url refuses.
func splitURL(raw string) (rawURL, error) {
	var u rawURL
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" {
		return u, fmt.Errorf("not a database URL (want scheme://...): %s", describeRaw(raw))
	}
	u.scheme = strings.ToLower(scheme)
	rest, _, _ = strings.Cut(rest, "#")
	rest, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return u, fmt.Errorf("bad query string in database URL: %w", err)
	}
	u.query = q
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo := authority[:i]
		authority = authority[i+1:]
		user, pw, hasPW := strings.Cut(userinfo, ":")
		if u.user, err = url.PathUnescape(user); err != nil {
			return u, fmt.Errorf("bad user name in database URL: %w", err)
		}
		if hasPW {
			u.hasPassword = true
			if u.password, err = url.PathUnescape(pw); err != nil {
				// The error would quote the password: say only where it is.
				return u, fmt.Errorf("bad percent-encoding in the database URL's password")
			}
		}
	}
	if strings.Contains(authority, "%") {
		// A socket path: unescape it whole; it carries no port.
		if u.host, err = url.PathUnescape(authority); err != nil {
			return u, fmt.Errorf("bad host in database URL: %w", err)
		}
	} else if authority != "" {
		host, port, err := net.SplitHostPort(authority)
		if err != nil {
			// No port (or a bare IPv6 address in brackets).
			host = strings.TrimSuffix(strings.TrimPrefix(authority, "["), "]")
			port = ""
		}
		u.host, u.port = host, port
	}
	if path != "" {
		if u.path, err = url.PathUnescape(path[1:]); err != nil {
			return u, fmt.Errorf("bad database name in database URL: %w", err)
		}
	}
	return u, nil
}

// describeRaw shows a string that failed to parse as a URL without any
// part that could be a password.
func describeRaw(raw string) string {
	if strings.ContainsAny(raw, "@:") {
		return "(not shown: it may hold a password)"
	}
	return strconv.Quote(raw)
}

// HasPassword reports whether a database URL carries a password, in its
// user information or as a query parameter. The CLI refuses such a URL on
// the command line, where every user of the machine can read it.
func HasPassword(raw string) bool {
	u, err := splitURL(raw)
	if err != nil {
		// Unparsable: treat anything that looks like user:password@ as one.
		return strings.Contains(raw, "@") || strings.Contains(strings.ToLower(raw), "pass")
	}
	if u.hasPassword && u.password != "" {
		return true
	}
	for _, k := range passwordKeys {
		if u.query.Get(k) != "" {
			return true
		}
	}
	return false
}

// ParseURL parses a database URL in dj-database-url's form:
//
//	sqlite:////abs/path/db.sqlite3      (sqlite:///rel.db is relative to the working directory)
//	postgres://user@host:5432/name?sslmode=require   (also postgresql://, pgsql://, postgis://)
//	postgres://user@%2Fvar%2Frun%2Fpostgresql/name  (unix socket directory)
//	postgres://user@/name?host=/var/run/postgresql
//	mysql://user@host:3306/name          (also mysql2://, mysqlgis://)
//	mysql://user@%2Frun%2Fmysqld%2Fmysqld.sock/name, mysql://user@/name?unix_socket=/path
//
// PostgreSQL query parameters are libpq's (sslmode, sslrootcert, options,
// connect_timeout, service, ...; currentSchema sets the search_path as in
// dj-database-url). MySQL accepts charset, ssl-ca, unix_socket and
// connect_timeout; SQLite accepts timeout (seconds, Django's busy timeout).
// The returned Config has Django's defaults: table django_session, USE_TZ
// true, and sessionfs's timeouts.
func ParseURL(raw string) (Config, error) {
	u, err := splitURL(raw)
	if err != nil {
		return Config{}, err
	}
	engine, ok := schemes[u.scheme]
	if !ok {
		return Config{}, fmt.Errorf("database URL scheme %q not supported: sessionfs serves sqlite://, postgres:// (postgresql://) and mysql://", u.scheme)
	}
	c := Config{
		Engine:           engine,
		Name:             u.path,
		Host:             u.host,
		User:             u.user,
		Password:         Secret(u.password),
		Options:          map[string]string{},
		Table:            DefaultTable,
		UseTZ:            true,
		ConnectTimeout:   DefaultConnectTimeout,
		StatementTimeout: DefaultStatementTimeout,
		BusyTimeout:      DefaultBusyTimeout,
		MaxConns:         DefaultMaxConns,
	}
	if u.port != "" {
		if c.Port, err = strconv.Atoi(u.port); err != nil || c.Port <= 0 || c.Port > 65535 {
			return Config{}, fmt.Errorf("bad port %q in database URL", u.port)
		}
	}
	for k, vs := range u.query {
		c.Options[k] = vs[len(vs)-1] // the last one wins, as in dj-database-url
	}
	switch engine {
	case SQLite:
		err = c.sqliteFromURL(raw)
	case PostgreSQL:
		err = c.postgresFromURL()
	case MySQL:
		err = c.mysqlFromURL()
	}
	if err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c *Config) sqliteFromURL(raw string) error {
	if raw == "sqlite://:memory:" || c.Name == "" || c.Name == ":memory:" {
		return fmt.Errorf("an in-memory SQLite database holds no sessions to serve: give the site's file, sqlite:////abs/path/db.sqlite3")
	}
	if c.Host != "" || c.Port != 0 || c.User != "" || c.Password != "" {
		return fmt.Errorf("a sqlite URL has no host, port or user: sqlite:////abs/path/db.sqlite3 (four slashes for an absolute path)")
	}
	for k, v := range c.Options {
		switch k {
		case "timeout":
			secs, err := strconv.ParseFloat(v, 64)
			if err != nil || secs < 0 {
				return fmt.Errorf("sqlite timeout %q: want seconds", v)
			}
			c.BusyTimeout = time.Duration(secs * float64(time.Second))
		default:
			return fmt.Errorf("sqlite URL option %q not supported (sessionfs accepts timeout)", k)
		}
	}
	delete(c.Options, "timeout")
	abs, err := filepath.Abs(c.Name)
	if err != nil {
		return fmt.Errorf("sqlite path %q: %w", c.Name, err)
	}
	c.Name = abs
	return nil
}

func (c *Config) postgresFromURL() error {
	if pw, ok := c.Options["password"]; ok {
		if c.Password == "" {
			c.Password = Secret(pw)
		}
		delete(c.Options, "password")
	}
	if h, ok := c.Options["host"]; ok {
		if c.Host == "" {
			c.Host = h
		}
		delete(c.Options, "host")
	}
	if p, ok := c.Options["port"]; ok {
		// libpq's port also names a unix socket (.s.PGSQL.<port>).
		if c.Port == 0 {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 65535 {
				return fmt.Errorf("bad port %q in database URL", p)
			}
			c.Port = n
		}
		delete(c.Options, "port")
	}
	if s, ok := c.Options["currentSchema"]; ok {
		// dj-database-url turns currentSchema into a search_path option.
		c.Options["options"] = strings.TrimSpace(c.Options["options"] + " -c search_path=" + s)
		delete(c.Options, "currentSchema")
	}
	if v, ok := c.Options["connect_timeout"]; ok {
		secs, err := strconv.Atoi(v)
		if err != nil || secs < 0 {
			return fmt.Errorf("connect_timeout %q: want whole seconds", v)
		}
		if secs > 0 {
			c.ConnectTimeout = time.Duration(secs) * time.Second
		}
		delete(c.Options, "connect_timeout")
	}
	if c.Name == "" {
		return fmt.Errorf("postgres URL without a database name: postgres://user@host:5432/name")
	}
	return nil
}

func (c *Config) mysqlFromURL() error {
	for k, v := range c.Options {
		switch k {
		case "charset", "ssl-ca":
		case "unix_socket":
			if c.Host == "" || c.Host == "localhost" {
				c.Host = v
			}
			delete(c.Options, k)
		case "connect_timeout":
			secs, err := strconv.Atoi(v)
			if err != nil || secs <= 0 {
				return fmt.Errorf("connect_timeout %q: want whole seconds", v)
			}
			c.ConnectTimeout = time.Duration(secs) * time.Second
			delete(c.Options, k)
		case "read_default_file", "read_default_group":
			return fmt.Errorf("mysql URL option %s: sessionfs reads no MySQL option files; give the password in DATABASE_URL or --database-url-file", k)
		case "password", "passwd":
			if c.Password == "" {
				c.Password = Secret(v)
			}
			delete(c.Options, k)
		default:
			return fmt.Errorf("mysql URL option %q not supported (sessionfs accepts charset, ssl-ca, unix_socket, connect_timeout)", k)
		}
	}
	if c.Name == "" {
		return fmt.Errorf("mysql URL without a database name: mysql://user@host:3306/name")
	}
	return nil
}

// String shows the URL without its password: for messages and logs.
func (c Config) String() string {
	switch c.Engine {
	case SQLite:
		return "sqlite:///" + c.Name
	case "":
		return "(no database)"
	}
	var b strings.Builder
	b.WriteString(string(c.Engine))
	b.WriteString("://")
	if c.User != "" {
		b.WriteString(url.PathEscape(c.User))
		b.WriteByte('@')
	}
	b.WriteString(c.target())
	b.WriteByte('/')
	b.WriteString(url.PathEscape(c.Name))
	return b.String()
}

// target names the server: host:port or the socket path.
func (c Config) target() string {
	if c.Engine == SQLite {
		return c.Name
	}
	host := c.Host
	if strings.HasPrefix(host, "/") {
		return host
	}
	if host == "" {
		host = "localhost"
	}
	if c.Port != 0 {
		return net.JoinHostPort(host, strconv.Itoa(c.Port))
	}
	return host
}

// tableName matches the db_table values sessionfs quotes itself: an
// identifier, on PostgreSQL optionally schema-qualified.
var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$`)

func (c Config) check() error {
	switch c.Engine {
	case SQLite, PostgreSQL, MySQL:
	default:
		return fmt.Errorf("database engine %q not supported (sqlite, postgresql, mysql)", c.Engine)
	}
	if !tableName.MatchString(c.Table) || len(c.Table) > 127 || (c.Engine != PostgreSQL && strings.Contains(c.Table, ".")) {
		return fmt.Errorf("session table name %q: want an identifier of letters, digits and _ (schema.table on PostgreSQL)", c.Table)
	}
	if c.StatementTimeout <= 0 || c.ConnectTimeout <= 0 {
		return fmt.Errorf("database timeouts must be positive")
	}
	if c.Engine == SQLite && c.BusyTimeout >= c.StatementTimeout {
		return fmt.Errorf("sqlite busy timeout %v must be shorter than the statement timeout %v", c.BusyTimeout, c.StatementTimeout)
	}
	return nil
}
