// Package dbstore is Django's database session backend seen from Go: the
// session table (django_session, or a custom session model's table) on
// SQLite, PostgreSQL or MySQL/MariaDB.
//
// Every operation is one short statement with its own deadline, uses only
// the three columns Django's AbstractBaseSession defines (session_key,
// session_data, expire_date), and takes any "now" from the caller, never
// from the server. Writes are compare-and-set against the Version a read
// returned, because Django itself writes without locks: a plain UPDATE would
// silently undo a request's save.
//
// Two layers: Store knows rows, not session contents (session_data is the
// string Django's codec reads and writes); Sessions, over a Store, is the
// store.Store the mount and the CLI use, decoding session_data with the
// codec and deciding expire_date as Django's db backend does.
package dbstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// Store is an open session table. It is safe for concurrent use.
type Store struct {
	db     *sql.DB
	cfg    Config
	sql    dialect
	clock  clock
	schema Schema
	errs   errorWrapper
	// returning: DELETE ... RETURNING is available (PostgreSQL, SQLite
	// 3.35+, MariaDB); MySQL deletes expired rows by locked key lists.
	returning bool
}

// Row is one session row.
type Row struct {
	Key        string
	Data       string    // session_data as stored (empty in key-only scans)
	ExpireDate time.Time // UTC; zero when the column holds no datetime
	Version    Version
}

// Expired reports whether Django's load() at now finds nothing for the row:
// it selects only rows with expire_date > now.
func (r Row) Expired(now time.Time) bool { return !r.ExpireDate.After(now) }

// Version identifies one state of a row: its session_data and expire_date
// exactly as stored. Writes given a Version apply only while the row still
// holds both. The zero Version matches no row.
type Version struct {
	data   string
	expire stamp
	valid  bool
}

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return !v.valid }

// Equal reports whether v and w are the same state of a row.
func (v Version) Equal(w Version) bool {
	return v.valid == w.valid && v.expire.key == w.expire.key && v.data == w.data
}

// Schema is what Open found in the session table.
type Schema struct {
	Table string
	// KeyMaxLen is session_key's declared length (40 in Django's model);
	// longer keys are refused before any statement.
	KeyMaxLen int
	// UserIndex: an indexed user_id column (django-user-sessions,
	// django-qsessions) lets ScanUser find a user's sessions by index.
	UserIndex bool
	// CreateBlockers lists what makes an INSERT of the three columns
	// impossible: NOT NULL columns without a default (a custom session
	// model's own fields), or a session_key without a unique constraint.
	// Insert refuses with ErrCreateRefused while it is not empty.
	CreateBlockers []string

	userIDInt    bool // user_id holds integers (compare as numbers)
	expireDigits int  // fractional second digits of expire_date
}

// Open connects to the database, checks the session table and returns the
// Store. It fails with ErrUnavailable or ErrAuth when the server cannot be
// used and with ErrSchema when the table is missing or not Django's.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	loc, err := naiveZone(cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, sql: newDialect(cfg.Engine, cfg.Table)}
	var password string
	switch cfg.Engine {
	case SQLite:
		s.db, err = openSQLite(cfg)
	case PostgreSQL:
		s.db, password, err = openPostgres(cfg)
	case MySQL:
		s.db, err = openMySQL(cfg, newRedactor(string(cfg.Password)))
	}
	s.errs = errorWrapper{newRedactor(string(cfg.Password), password)}
	if err != nil {
		return nil, s.errs.wrap(cfg, err, "opening %s", cfg)
	}
	maxConns := cfg.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	s.db.SetMaxOpenConns(maxConns)
	s.db.SetMaxIdleConns(maxConns)
	s.db.SetConnMaxIdleTime(5 * time.Minute)
	s.db.SetConnMaxLifetime(time.Hour)

	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+cfg.StatementTimeout)
	defer cancel()
	if err := s.db.PingContext(pctx); err != nil {
		s.db.Close()
		return nil, s.wrapParent(ctx, err, "connecting to %s", cfg)
	}
	if err := s.checkSchema(pctx); err != nil {
		s.db.Close()
		return nil, err
	}
	if err := s.probeFeatures(pctx); err != nil {
		s.db.Close()
		return nil, err
	}
	s.clock = clock{engine: cfg.Engine, loc: loc, digits: s.schema.expireDigits}
	return s, nil
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.db.Close() }

// Schema reports what Open found in the table.
func (s *Store) Schema() Schema {
	sc := s.schema
	sc.CreateBlockers = append([]string(nil), sc.CreateBlockers...)
	return sc
}

// Config returns the configuration the Store was opened with.
func (s *Store) Config() Config { return s.cfg }

// CheckKey returns store.ErrInvalidKey for a key that is not Django's
// shape ([a-z0-9], at least 8 characters) or does not fit the column.
// Every operation checks its keys before any statement.
func (s *Store) CheckKey(key string) error {
	if len(key) < minKeyLen || len(key) > s.schema.KeyMaxLen || !lowerAlnum(key) {
		return fmt.Errorf("%w: %q (want %d to %d characters from [a-z0-9])",
			store.ErrInvalidKey, key, minKeyLen, s.schema.KeyMaxLen)
	}
	return nil
}

// Django treats keys shorter than 8 as no key; session keys are made of
// lower-case letters and digits so that case-insensitive stores (MySQL's
// default collation) cannot confuse two keys.
const (
	minKeyLen = 8
	maxKeyLen = 255
)

func lowerAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ctx bounds one statement by the statement timeout.
func (s *Store) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.cfg.StatementTimeout)
}

// wrapParent is wrap that reports the caller's own cancellation as such
// rather than as an unavailable server.
func (s *Store) wrapParent(parent context.Context, err error, format string, args ...any) error {
	if perr := parent.Err(); perr != nil {
		return s.wrap(perr, format, args...)
	}
	return s.wrap(err, format, args...)
}

// probeFeatures finds what the server supports beyond the common SQL.
func (s *Store) probeFeatures(ctx context.Context) error {
	var version string
	var err error
	switch s.cfg.Engine {
	case PostgreSQL:
		s.returning = true
		return nil
	case SQLite:
		err = s.db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&version)
		if err == nil {
			s.returning = versionAtLeast(version, 3, 35) // RETURNING
		}
	case MySQL:
		err = s.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version)
		if err == nil {
			s.returning = strings.Contains(strings.ToLower(version), "mariadb") // DELETE ... RETURNING
		}
	}
	if err != nil {
		return s.wrap(err, "asking %s for its version", s.cfg)
	}
	return nil
}

// versionAtLeast compares the leading "major.minor" of a version string.
func versionAtLeast(v string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(v, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
