package dbstore

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// column is one column of the session table as the catalog describes it.
type column struct {
	name       string
	typ        string // declared type, lower case
	notNull    bool
	hasDefault bool // a default, identity, generated or auto-increment value
	length     int  // declared character length; 0 when unbounded or unknown
	digits     int  // fractional second digits of a datetime; -1 when not one
}

// index is one index: its columns in order and whether it is unique.
type index struct {
	name   string
	unique bool
	cols   []string
}

// checkSchema reads the table's columns and indexes from the catalog and
// decides whether and how sessionfs can use it.
func (s *Store) checkSchema(ctx context.Context) error {
	var cols []column
	var idx []index
	var err error
	switch s.cfg.Engine {
	case PostgreSQL:
		cols, idx, err = s.pgCatalog(ctx)
	case MySQL:
		cols, idx, err = s.mysqlCatalog(ctx)
	case SQLite:
		cols, idx, err = s.sqliteCatalog(ctx)
	}
	if err != nil {
		return s.wrap(err, "reading the columns of table %s in %s", s.cfg.Table, s.cfg)
	}
	sc, err := evalSchema(s.cfg, cols, idx)
	if err != nil {
		return err
	}
	s.schema = sc
	return nil
}

func schemaErr(c Config, format string, args ...any) error {
	return &dbError{
		msg:   fmt.Sprintf("session table %s in %s: ", c.Table, c) + fmt.Sprintf(format, args...),
		kinds: []error{ErrSchema},
	}
}

// evalSchema is the decision part of checkSchema.
func evalSchema(c Config, cols []column, idx []index) (Schema, error) {
	sc := Schema{Table: c.Table, KeyMaxLen: maxKeyLen}
	if len(cols) == 0 {
		return sc, schemaErr(c, "not found: run `manage.py migrate` to create it (or name the session model's table: django-user-sessions uses user_sessions_session, django-qsessions qsessions_session)")
	}
	byName := map[string]column{}
	for _, col := range cols {
		byName[strings.ToLower(col.name)] = col
	}
	key, okKey := byName["session_key"]
	data, okData := byName["session_data"]
	exp, okExp := byName["expire_date"]
	if !okKey || !okData || !okExp {
		var names []string
		for _, col := range cols {
			names = append(names, col.name)
		}
		return sc, schemaErr(c, "is not a Django session table: want columns session_key, session_data, expire_date; it has %s", strings.Join(names, ", "))
	}
	if !textType(key.typ) {
		return sc, schemaErr(c, "session_key is %s, not a character type", key.typ)
	}
	if !textType(data.typ) {
		return sc, schemaErr(c, "session_data is %s, not a text type", data.typ)
	}
	switch c.Engine {
	case PostgreSQL:
		if !strings.HasPrefix(exp.typ, "timestamp") || !strings.HasSuffix(exp.typ, "with time zone") || strings.HasSuffix(exp.typ, "without time zone") {
			return sc, schemaErr(c, "expire_date is %s; Django's PostgreSQL column is timestamp with time zone", exp.typ)
		}
	case MySQL:
		if !strings.HasPrefix(exp.typ, "datetime") {
			return sc, schemaErr(c, "expire_date is %s; Django's MySQL column is datetime(6)", exp.typ)
		}
	}
	if key.length > 0 {
		if key.length < 32 {
			return sc, schemaErr(c, "session_key holds %d characters, fewer than Django's 32-character keys", key.length)
		}
		sc.KeyMaxLen = min(key.length, maxKeyLen)
	}
	sc.expireDigits = 6
	if exp.digits >= 0 && exp.digits < 6 {
		sc.expireDigits = exp.digits
	}
	for _, col := range cols {
		switch strings.ToLower(col.name) {
		case "session_key", "session_data", "expire_date":
			continue
		}
		if col.notNull && !col.hasDefault {
			sc.CreateBlockers = append(sc.CreateBlockers, fmt.Sprintf("column %s is NOT NULL without a default", col.name))
		}
	}
	unique := false
	for _, ix := range idx {
		if len(ix.cols) == 0 {
			continue
		}
		first := strings.ToLower(ix.cols[0])
		if ix.unique && len(ix.cols) == 1 && first == "session_key" {
			unique = true
		}
		if first == "user_id" {
			sc.UserIndex = true
		}
	}
	if !unique {
		sc.CreateBlockers = append(sc.CreateBlockers, "session_key has no unique constraint (a second row with the same key could be created)")
	}
	if uid, ok := byName["user_id"]; ok && sc.UserIndex {
		sc.userIDInt = strings.Contains(uid.typ, "int")
	} else {
		sc.UserIndex = false
	}
	return sc, nil
}

func textType(t string) bool {
	for _, p := range []string{"character", "varchar", "char", "text", "nvarchar", "nchar", "clob", "longtext", "mediumtext", "tinytext", "string"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return t == "" // SQLite: a column without a declared type holds text as given
}

func (s *Store) pgCatalog(ctx context.Context) ([]column, []index, error) {
	const colSQL = `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
		a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
		CASE WHEN a.atttypid IN ('varchar'::regtype, 'bpchar'::regtype) AND a.atttypmod > 4 THEN a.atttypmod - 4 ELSE 0 END,
		CASE WHEN a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype) THEN (CASE WHEN a.atttypmod >= 0 THEN a.atttypmod ELSE 6 END) ELSE -1 END
		FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`
	const idxSQL = `SELECT c.relname, i.indisunique AND i.indpred IS NULL, a.attname, i.indnkeyatts
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = to_regclass($1)`
	cols, err := queryColumns(ctx, s, colSQL, s.sql.table)
	if err != nil || len(cols) == 0 {
		return cols, nil, err
	}
	rows, err := s.db.QueryContext(ctx, idxSQL, s.sql.table)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var idx []index
	for rows.Next() {
		var ix index
		var first string
		var nkeys int
		if err := rows.Scan(&ix.name, &ix.unique, &first, &nkeys); err != nil {
			return nil, nil, err
		}
		ix.cols = []string{first}
		for range nkeys - 1 {
			ix.cols = append(ix.cols, "") // only the first column's name matters
		}
		idx = append(idx, ix)
	}
	return cols, idx, rows.Err()
}

func (s *Store) mysqlCatalog(ctx context.Context) ([]column, []index, error) {
	const colSQL = `SELECT COLUMN_NAME, LOWER(COLUMN_TYPE), IS_NULLABLE = 'NO',
		COLUMN_DEFAULT IS NOT NULL OR EXTRA LIKE '%auto_increment%' OR EXTRA LIKE '%GENERATED%',
		COALESCE(CHARACTER_MAXIMUM_LENGTH, 0), COALESCE(DATETIME_PRECISION, -1)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`
	const idxSQL = `SELECT INDEX_NAME, NON_UNIQUE = 0, COLUMN_NAME
		FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX`
	cols, err := queryColumns(ctx, s, colSQL, s.cfg.Table)
	if err != nil || len(cols) == 0 {
		return cols, nil, err
	}
	idx, err := queryIndexes(ctx, s, idxSQL, s.cfg.Table)
	return cols, idx, err
}

var declaredLength = regexp.MustCompile(`\(\s*(\d+)\s*\)`)

func (s *Store) sqliteCatalog(ctx context.Context) ([]column, []index, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, LOWER(type), "notnull", dflt_value IS NOT NULL, pk FROM pragma_table_info(?1)`, s.cfg.Table)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var cols []column
	pks := 0
	for rows.Next() {
		var col column
		var pk int
		if err := rows.Scan(&col.name, &col.typ, &col.notNull, &col.hasDefault, &pk); err != nil {
			return nil, nil, err
		}
		if m := declaredLength.FindStringSubmatch(col.typ); m != nil && !strings.Contains(col.typ, "date") {
			col.length, _ = strconv.Atoi(m[1])
		}
		col.digits = -1
		if pk > 0 {
			pks++
			if col.typ == "integer" {
				col.hasDefault = true // the rowid: SQLite assigns it
			}
		}
		cols = append(cols, col)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows.Close()
	if pks > 1 {
		for i := range cols {
			if cols[i].typ == "integer" {
				cols[i].hasDefault = false // part of a composite key: not the rowid
			}
		}
	}
	if len(cols) == 0 {
		return nil, nil, nil
	}
	idx, err := queryIndexes(ctx, s, `SELECT il.name, il."unique" AND NOT il.partial, ii.name
		FROM pragma_index_list(?1) il, pragma_index_info(il.name) ii ORDER BY il.name, ii.seqno`, s.cfg.Table)
	return cols, idx, err
}

func queryColumns(ctx context.Context, s *Store, query string, arg any) ([]column, error) {
	rows, err := s.db.QueryContext(ctx, query, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var col column
		var length int64
		if err := rows.Scan(&col.name, &col.typ, &col.notNull, &col.hasDefault, &length, &col.digits); err != nil {
			return nil, err
		}
		col.length = int(min(length, 1<<30))
		cols = append(cols, col)
	}
	return cols, rows.Err()
}

// queryIndexes reads (index name, unique, column) rows in column order.
func queryIndexes(ctx context.Context, s *Store, query string, arg any) ([]index, error) {
	rows, err := s.db.QueryContext(ctx, query, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var idx []index
	for rows.Next() {
		var name, col string
		var unique bool
		if err := rows.Scan(&name, &unique, &col); err != nil {
			return nil, err
		}
		if n := len(idx); n > 0 && idx[n-1].name == name {
			idx[n-1].cols = append(idx[n-1].cols, col)
			continue
		}
		idx = append(idx, index{name: name, unique: unique, cols: []string{col}})
	}
	return idx, rows.Err()
}
