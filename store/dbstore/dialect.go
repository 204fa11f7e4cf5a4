package dbstore

import (
	"fmt"
	"strings"
)

// dialect holds the statements of one engine, built once at Open. Only
// the table name is spliced into SQL text, quoted; every value is a
// parameter.
type dialect struct {
	engine Engine
	table  string // quoted
	expire string // select expression giving expire_date in the form clock.read takes

	get, insert, updateIf, renameIf, deleteIf, del string
}

func newDialect(engine Engine, table string) dialect {
	d := dialect{engine: engine, table: quoteTable(engine, table)}
	d.expire = "expire_date"
	if engine == SQLite {
		// The driver turns columns declared DATETIME into time.Time; the
		// stored text is what Django compares and what compare-and-set needs.
		d.expire = "CAST(expire_date AS TEXT)"
	}
	t := d.table
	d.get = fmt.Sprintf("SELECT session_key, session_data, %s FROM %s WHERE session_key = %s", d.expire, t, d.ph(1))
	d.insert = fmt.Sprintf("INSERT INTO %s (session_key, session_data, expire_date) VALUES (%s, %s, %s)", t, d.ph(1), d.ph(2), d.ph(3))
	d.updateIf = fmt.Sprintf("UPDATE %s SET session_data = %s, expire_date = %s WHERE session_key = %s AND %s AND expire_date = %s",
		t, d.ph(1), d.ph(2), d.ph(3), d.dataEq(4), d.ph(5))
	d.renameIf = fmt.Sprintf("UPDATE %s SET session_key = %s WHERE session_key = %s AND %s AND expire_date = %s",
		t, d.ph(1), d.ph(2), d.dataEq(3), d.ph(4))
	d.deleteIf = fmt.Sprintf("DELETE FROM %s WHERE session_key = %s AND %s AND expire_date = %s", t, d.ph(1), d.dataEq(2), d.ph(3))
	d.del = fmt.Sprintf("DELETE FROM %s WHERE session_key = %s", t, d.ph(1))
	return d
}

// ph is the n-th (1-based) parameter placeholder. MySQL's are positional,
// so no statement there uses a parameter twice.
func (d dialect) ph(n int) string {
	switch d.engine {
	case PostgreSQL:
		return fmt.Sprintf("$%d", n)
	case SQLite:
		return fmt.Sprintf("?%d", n)
	}
	return "?"
}

// dataEq compares session_data with parameter n byte for byte. MySQL's
// default collations ignore case and trailing spaces: there the comparison
// is made on the binary strings.
func (d dialect) dataEq(n int) string {
	if d.engine == MySQL {
		return fmt.Sprintf("CAST(session_data AS BINARY) = CAST(%s AS BINARY)", d.ph(n))
	}
	return "session_data = " + d.ph(n)
}

func quoteIdent(engine Engine, name string) string {
	if engine == MySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

func quoteTable(engine Engine, table string) string {
	parts := strings.Split(table, ".")
	for i, p := range parts {
		parts[i] = quoteIdent(engine, p)
	}
	return strings.Join(parts, ".")
}

// pageQuery is one page of a key-ordered scan, as two statements: first
// starts at the smallest key, the empty one included (a row under an
// empty key is listed too), next continues after the previous page's last key ph(1).
type pageQuery struct{ first, next string }

// scanSQL is one page of a key-ordered scan: rows from or after key ph(1),
// at most limit. where adds a condition on parameter ph(2) (user_id).
func (d dialect) scanSQL(withData bool, where string, limit int) pageQuery {
	cols := "session_key, '', " + d.expire
	if withData {
		cols = "session_key, session_data, " + d.expire
	}
	query := func(op string) string {
		cond := "session_key " + op + " " + d.ph(1)
		if where != "" {
			cond += " AND " + where
		}
		return fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY session_key LIMIT %d", cols, d.table, cond, limit)
	}
	return pageQuery{first: query(">="), next: query(">")}
}

// expiredSQL lists expired rows in key order after key ph(1) with
// expire_date < ph(2): the dry run of clearExpired.
func (d dialect) expiredSQL(withData bool, limit int) pageQuery {
	return d.scanSQL(withData, "expire_date < "+d.ph(2), limit)
}

// clearSQL deletes one batch of rows with expire_date < ph(1) and returns
// them. PostgreSQL re-checks the outer condition on a row a concurrent save
// changed, so a session Django renewed meanwhile is kept.
//
// On PostgreSQL the rows earlier batches deleted stay in the table and its
// indexes until a vacuum, so a batch must not search from the start again,
// nor scan the table to find the rows it chose: it takes the earliest
// expiries from expire_date ph(2) on when resume is set (the latest one the
// previous batch deleted), and deletes them by their tuple ids. A row a
// concurrent save renewed has moved to another tuple and is left alone.
func (d dialect) clearSQL(withData bool, limit int, resume bool) string {
	cols := "session_key, '', " + d.expire
	if withData {
		cols = "session_key, session_data, " + d.expire
	}
	switch d.engine {
	case MySQL: // MariaDB
		return fmt.Sprintf("DELETE FROM %s WHERE expire_date < ? LIMIT %d RETURNING %s", d.table, limit, cols)
	case PostgreSQL:
		from := ""
		if resume {
			from = " AND expire_date >= " + d.ph(2)
		}
		return fmt.Sprintf("DELETE FROM %s WHERE ctid = ANY(ARRAY(SELECT ctid FROM %s WHERE expire_date < %s%s ORDER BY expire_date LIMIT %d)) AND expire_date < %s RETURNING %s",
			d.table, d.table, d.ph(1), from, limit, d.ph(1), cols)
	}
	return fmt.Sprintf("DELETE FROM %s WHERE session_key IN (SELECT session_key FROM %s WHERE expire_date < %s LIMIT %d) AND expire_date < %s RETURNING %s",
		d.table, d.table, d.ph(1), limit, d.ph(1), cols)
}

// lockExpiredSQL and deleteKeysSQL clear a batch on MySQL, which has no
// DELETE ... RETURNING: in one transaction the expired rows are selected
// FOR UPDATE, then deleted by key.
func (d dialect) lockExpiredSQL(withData bool, limit int) string {
	cols := "session_key, '', " + d.expire
	if withData {
		cols = "session_key, session_data, " + d.expire
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE expire_date < ? LIMIT %d FOR UPDATE", cols, d.table, limit)
}

func (d dialect) deleteKeysSQL(n int) string {
	return fmt.Sprintf("DELETE FROM %s WHERE session_key IN (%s)", d.table, strings.TrimSuffix(strings.Repeat("?, ", n), ", "))
}
