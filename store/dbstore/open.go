package dbstore

import (
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers "sqlite"
)

// openSQLite opens the site's file read-write without ever creating it.
// Only per-connection settings are made (the busy timeout); the journal
// mode and every other persistent setting of the file stay Django's.
func openSQLite(c Config) (*sql.DB, error) {
	fi, err := os.Stat(c.Name)
	if err != nil {
		return nil, &dbError{
			msg:   fmt.Sprintf("%v (is this the site's DATABASES NAME? `manage.py migrate` creates it)", err),
			kinds: []error{ErrUnavailable},
		}
	}
	if !fi.Mode().IsRegular() {
		return nil, &dbError{msg: c.Name + " is not a regular file", kinds: []error{ErrUnavailable}}
	}
	q := url.Values{}
	q.Set("mode", "rw")
	q.Set("_busy_timeout", strconv.FormatInt(c.BusyTimeout.Milliseconds(), 10))
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: c.Name, RawQuery: q.Encode()}).String()
	return sql.Open("sqlite", dsn)
}

// openPostgres goes through pgx's own configuration parser, so everything
// libpq users expect applies: PGPASSWORD, ~/.pgpass (PGPASSFILE), PGSERVICE
// and the service file, PGSSLMODE and the other PG* variables for what the
// URL leaves out. It also returns the password pgx settled on, for redaction.
func openPostgres(c Config) (*sql.DB, string, error) {
	kv := map[string]string{"dbname": c.Name}
	if c.Host != "" {
		kv["host"] = c.Host
	}
	if c.Port != 0 {
		kv["port"] = strconv.Itoa(c.Port)
	}
	if c.User != "" {
		kv["user"] = c.User
	}
	if c.Password != "" {
		kv["password"] = string(c.Password)
	}
	for k, v := range c.Options {
		kv[k] = v
	}
	pc, err := pgx.ParseConfig(keywordValues(kv))
	if err != nil {
		return nil, "", err
	}
	pc.ConnectTimeout = c.ConnectTimeout
	dialer := &net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 15 * time.Second}
	pc.DialFunc = dialer.DialContext
	// The server also stops a statement at the timeout, so nothing keeps
	// running there after the client gave up on it.
	if _, set := pc.RuntimeParams["statement_timeout"]; !set {
		pc.RuntimeParams["statement_timeout"] = strconv.FormatInt(c.StatementTimeout.Milliseconds(), 10)
	}
	if _, set := pc.RuntimeParams["application_name"]; !set {
		pc.RuntimeParams["application_name"] = "sessionfs"
	}
	return stdlib.OpenDB(*pc), pc.Password, nil
}

// keywordValues renders libpq's keyword/value connection string.
func keywordValues(kv map[string]string) string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(kv[k])
		fmt.Fprintf(&b, "%s='%s' ", k, v)
	}
	return strings.TrimSpace(b.String())
}

// mysqlLogger sends the driver's own log lines (closed idle connections and
// the like) to slog at debug level instead of stderr, redacted.
type mysqlLogger struct{ r redactor }

func (l mysqlLogger) Print(v ...any) { slog.Debug("mysql driver", "msg", l.r.redact(fmt.Sprint(v...))) }

// openMySQL configures go-sql-driver/mysql. It reads no option files
// (~/.my.cnf): the password comes from the URL.
func openMySQL(c Config, r redactor) (*sql.DB, error) {
	mc := mysql.NewConfig()
	mc.User = c.User
	mc.Passwd = string(c.Password)
	mc.DBName = c.Name
	if strings.HasPrefix(c.Host, "/") {
		mc.Net, mc.Addr = "unix", c.Host
	} else {
		host, port := c.Host, c.Port
		if host == "" {
			host = "localhost"
		}
		if port == 0 {
			port = 3306
		}
		mc.Net, mc.Addr = "tcp", net.JoinHostPort(host, strconv.Itoa(port))
	}
	mc.Timeout = c.ConnectTimeout
	// Backstops for a server that stops answering mid-statement; the
	// statement's context ends it sooner.
	mc.ReadTimeout = c.StatementTimeout + 5*time.Second
	mc.WriteTimeout = c.StatementTimeout + 5*time.Second
	// Rows matched, not rows changed: an update that writes the values the
	// row already holds still succeeded.
	mc.ClientFoundRows = true
	mc.ParseTime = false    // expire_date is read as text and converted by the clock
	mc.MaxAllowedPacket = 0 // ask the server, so large session_data goes out in pieces
	mc.Logger = mysqlLogger{r}
	charset := "utf8mb4"
	if cs := c.Options["charset"]; cs != "" {
		charset = cs
	}
	if err := mc.Apply(mysql.Charset(charset, "")); err != nil {
		return nil, err
	}
	if ca := c.Options["ssl-ca"]; ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("ssl-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl-ca %s: no PEM certificate", ca)
		}
		host, _, _ := net.SplitHostPort(mc.Addr)
		mc.TLS = &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}
