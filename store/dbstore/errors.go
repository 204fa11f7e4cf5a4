package dbstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sessionfs/sessionfs/store"
)

// Errors callers test with errors.Is, beside the store package's
// (store.ErrNotFound, store.ErrExists, store.ErrConflict, store.ErrInvalidKey),
// which this package returns with the same meaning. Each kind is also the
// store contract's error of that meaning (errors.Is(err, store.ErrReadOnly)
// holds for ErrReadOnly), so callers that know only the contract, such as
// the mount's errno table, map them without knowing databases.
var (
	// ErrReadOnly: the database refuses writes (a read-only transaction or
	// server, a hot standby, a read-only SQLite file).
	ErrReadOnly error = &kind{"database is read-only", store.ErrReadOnly}
	// ErrUnavailable: the server cannot be reached, went away, or did not
	// answer within the timeout; a locked SQLite file past the busy timeout.
	ErrUnavailable error = &kind{"database unavailable", store.ErrUnavailable}
	// ErrAuth: the server refused the user name or password. The store
	// cannot be used: store.ErrUnavailable.
	ErrAuth error = &kind{"database authentication failed", store.ErrUnavailable}
	// ErrPermission: the user lacks a privilege on the table.
	ErrPermission error = &kind{"database permission denied", store.ErrPermission}
	// ErrSchema: the session table is missing or not Django's shape (while
	// serving, the store is then unavailable).
	ErrSchema error = &kind{"session table unusable", store.ErrUnavailable}
	// ErrCreateRefused: the table has NOT NULL columns besides Django's
	// three (a custom session model), so a new row needs values sessionfs
	// does not have.
	ErrCreateRefused error = &kind{"session table refuses new rows from sessionfs", store.ErrCreateRefused}
	// ErrNoUserIndex: ScanUser on a table without an indexed user_id column.
	ErrNoUserIndex = errors.New("session table has no indexed user_id column")
)

// kind is an error kind of this package that is also a store contract
// error (its parent).
type kind struct {
	msg    string
	parent error
}

func (k *kind) Error() string { return k.msg }
func (k *kind) Unwrap() error { return k.parent }

// dbError is every error this package returns from a database call: a
// message already redacted, and the kinds it matches with errors.Is. The
// driver's error is deliberately not reachable through Unwrap: nothing
// can print its unredacted text later.
type dbError struct {
	msg   string
	kinds []error
}

func (e *dbError) Error() string   { return e.msg }
func (e *dbError) Unwrap() []error { return e.kinds }

// redactor removes the password from messages.
type redactor struct{ secrets []string }

func newRedactor(passwords ...string) redactor {
	var r redactor
	for _, p := range passwords {
		if p == "" {
			continue
		}
		for _, s := range []string{p, url.QueryEscape(p), url.PathEscape(p)} {
			if !contains(r.secrets, s) {
				r.secrets = append(r.secrets, s)
			}
		}
	}
	return r
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// redact replaces every occurrence of a secret with the mark. Drivers do
// not put passwords in their messages today; this makes sure of it.
func (r redactor) redact(msg string) string {
	for _, s := range r.secrets {
		msg = strings.ReplaceAll(msg, s, redactedMark)
	}
	return msg
}

// wrap is the one way a driver error leaves this package: classified,
// prefixed with what was being done, and redacted. Errors that are already
// ours pass through unchanged.
func (s *Store) wrap(err error, format string, args ...any) error {
	return s.errs.wrap(s.cfg, err, format, args...)
}

type errorWrapper struct{ r redactor }

func (w errorWrapper) wrap(c Config, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	var own *dbError
	if errors.As(err, &own) {
		return &dbError{msg: w.r.redact(what + ": " + own.msg), kinds: own.kinds}
	}
	kinds, detail := classify(c, err)
	return &dbError{msg: w.r.redact(what + ": " + detail), kinds: kinds}
}

// classify maps a driver error to this package's kinds and a message.
func classify(c Config, err error) ([]error, string) {
	msg := err.Error()
	switch {
	case errors.Is(err, context.Canceled):
		return []error{context.Canceled}, "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return []error{ErrUnavailable, context.DeadlineExceeded},
			fmt.Sprintf("%s did not answer in time (%s)", c.target(), msg)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgKinds(pgErr), msg
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return mysqlKinds(myErr), msg
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return sqliteKinds(liteErr), msg
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EPIPE) {
		return []error{ErrUnavailable}, fmt.Sprintf("%s unreachable: %s", c.target(), msg)
	}
	return nil, msg
}

func pgKinds(e *pgconn.PgError) []error {
	switch {
	case e.Code == "23505": // unique_violation
		return []error{store.ErrExists}
	case e.Code == "23502": // not_null_violation
		return []error{ErrCreateRefused}
	case e.Code == "25006": // read_only_sql_transaction (also a hot standby)
		return []error{ErrReadOnly}
	case e.Code == "28P01" || e.Code == "28000": // invalid_password, invalid_authorization_specification
		return []error{ErrAuth}
	case e.Code == "42501": // insufficient_privilege
		return []error{ErrPermission}
	case e.Code == "42P01" || e.Code == "42703": // undefined_table, undefined_column
		return []error{ErrSchema}
	case e.Code == "57014": // query_canceled: statement_timeout
		return []error{ErrUnavailable}
	case strings.HasPrefix(e.Code, "08"), strings.HasPrefix(e.Code, "57P"), e.Code == "53300":
		// connection exceptions, admin shutdown, cannot connect now, too many connections
		return []error{ErrUnavailable}
	}
	return nil
}

func mysqlKinds(e *mysql.MySQLError) []error {
	switch e.Number {
	case 1062: // ER_DUP_ENTRY
		return []error{store.ErrExists}
	case 1048, 1364: // ER_BAD_NULL_ERROR, ER_NO_DEFAULT_FOR_FIELD
		return []error{ErrCreateRefused}
	case 1290, 1792, 1836: // --read-only server, read-only transaction, read-only mode
		return []error{ErrReadOnly}
	case 1045: // ER_ACCESS_DENIED_ERROR (user or password)
		return []error{ErrAuth}
	case 1044, 1142, 1143, 1227: // no access to the database, table, column; missing privilege
		return []error{ErrPermission}
	case 1146, 1054: // ER_NO_SUCH_TABLE, ER_BAD_FIELD_ERROR
		return []error{ErrSchema}
	case 1040, 1053, 1205, 1969, 3024: // too many connections, shutdown, lock wait timeout, statement timeouts
		return []error{ErrUnavailable}
	}
	return nil
}

func sqliteKinds(e *sqlite.Error) []error {
	code := e.Code()
	switch code {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return []error{store.ErrExists}
	case sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return []error{ErrCreateRefused}
	}
	switch code & 0xff {
	case sqlite3.SQLITE_READONLY:
		return []error{ErrReadOnly}
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_INTERRUPT:
		return []error{ErrUnavailable}
	case sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH:
		return []error{ErrPermission}
	}
	return nil
}
