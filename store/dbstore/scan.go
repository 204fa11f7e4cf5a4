package dbstore

import (
	"context"
	"strconv"
)

// ScanOptions modify Scan.
type ScanOptions struct {
	// After starts the scan after this key (resuming a listing).
	After string
	// KeysOnly leaves Row.Data empty and Row.Version zero: a listing that
	// needs keys and expiry reads a fraction of the table.
	KeysOnly bool
	// PageRows bounds the rows one statement returns; default 1000.
	PageRows int
	// PageBytes bounds the session_data bytes held at once; a page ends
	// early past it. Default 8 MiB.
	PageBytes int
}

const (
	defaultPageRows  = 1000
	defaultPageBytes = 8 << 20
)

// Scan calls fn for every row in key order, expired ones included. It pages
// by key (session_key > last ORDER BY session_key LIMIT n, the first page
// from the empty key on, so that even a row under an empty key is seen): each page is
// one short statement, read whole and released before fn runs, so fn may
// call the Store, nothing locks the table between pages, and memory stays
// bounded by one page whatever the table's size. Rows written or removed
// during a scan may or may not be seen; no key is seen twice. Keys are
// returned as stored, also those that are not Django's shape (CheckKey
// tells them). An error from fn stops the scan and is returned.
func (s *Store) Scan(ctx context.Context, opt ScanOptions, fn func(Row) error) error {
	return s.scanPages(ctx, opt, "", nil, fn)
}

// ScanUser calls fn for every row whose user_id column is userID (Django's
// _auth_user_id), in key order, using the column's index. It fails with
// ErrNoUserIndex on a table without one (Schema.UserIndex), where only a
// Scan that decodes every session finds a user's sessions.
func (s *Store) ScanUser(ctx context.Context, userID string, fn func(Row) error) error {
	if !s.schema.UserIndex {
		return &dbError{msg: "table " + s.cfg.Table + " has no indexed user_id column", kinds: []error{ErrNoUserIndex}}
	}
	where, arg, ok := s.userWhere(userID)
	if !ok {
		return nil // an integer column holds no such user
	}
	return s.scanPages(ctx, ScanOptions{}, where, arg, fn)
}

func (s *Store) scanPages(ctx context.Context, opt ScanOptions, where string, whereArg any, fn func(Row) error) error {
	return s.scanBatches(ctx, opt, where, whereArg, func(page []Row) error {
		for _, r := range page {
			if opt.KeysOnly {
				r.Version = Version{}
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// scanBatches is Scan (or, with where, ScanUser) a page at a time: fn gets
// each page whole, so that its rows can be decoded in parallel.
func (s *Store) scanBatches(ctx context.Context, opt ScanOptions, where string, whereArg any, fn func([]Row) error) error {
	limit := opt.PageRows
	if limit <= 0 {
		limit = defaultPageRows
	}
	var extra []any
	if where != "" {
		extra = []any{whereArg}
	}
	return s.batches(ctx, s.sql.scanSQL(!opt.KeysOnly, where, limit), extra, opt.After, limit, opt.PageBytes, fn)
}

// userWhere is the condition and argument of ScanUser's index lookup;
// ok is false when the user_id column cannot hold userID.
func (s *Store) userWhere(userID string) (where string, arg any, ok bool) {
	arg = userID
	if s.schema.userIDInt {
		n, err := strconv.ParseInt(userID, 10, 64)
		if err != nil {
			return "", nil, false
		}
		arg = n
	}
	return "user_id = " + s.sql.ph(2), arg, true
}

// pages runs a key-paged query: its first parameter is the last key of
// the previous page, extra are the following ones.
func (s *Store) pages(ctx context.Context, query pageQuery, extra []any, after string, limit, budget int, fn func(Row) error) error {
	return s.batches(ctx, query, extra, after, limit, budget, func(page []Row) error {
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// batches is pages handing fn each page whole. Without after, the first
// page starts at the smallest key; every other page after the last key
// seen.
func (s *Store) batches(ctx context.Context, query pageQuery, extra []any, after string, limit, budget int, fn func([]Row) error) error {
	if budget <= 0 {
		budget = defaultPageBytes
	}
	last, q := after, query.next
	if after == "" {
		q = query.first
	}
	for {
		page, full, err := s.page(ctx, q, append([]any{last}, extra...), limit, budget)
		if err != nil {
			return s.wrapParent(ctx, err, "listing sessions after %q in %s", last, s.cfg)
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if !full || len(page) == 0 {
			return nil
		}
		last, q = page[len(page)-1].Key, query.next
	}
}

// Count returns the number of rows in the table, expired ones included.
func (s *Store) Count(ctx context.Context) (int64, error) {
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	var n int64
	if err := s.db.QueryRowContext(cctx, "SELECT COUNT(*) FROM "+s.sql.table).Scan(&n); err != nil {
		return 0, s.wrapParent(ctx, err, "counting sessions in %s", s.cfg)
	}
	return n, nil
}

// page runs one page statement and reads it whole. full reports that the
// page may have a successor: it hit the row limit or the byte budget.
func (s *Store) page(ctx context.Context, query string, args []any, limit, budget int) (page []Row, full bool, err error) {
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(cctx, query, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	size := 0
	for rows.Next() {
		r, err := s.scanRow(rows)
		if err != nil {
			return nil, false, err
		}
		page = append(page, r)
		size += len(r.Data) + len(r.Key)
		if size >= budget {
			return page, true, rows.Close()
		}
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	return page, len(page) == limit, nil
}
