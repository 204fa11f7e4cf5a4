package dbstore

import (
	"context"
	"database/sql"
	"time"
)

// ClearOptions modify ClearExpired.
type ClearOptions struct {
	// Batch is the most rows one statement deletes; default 5000. Each
	// batch is its own short transaction, so a table with millions of
	// expired rows is never locked for long.
	Batch int
	// DryRun deletes nothing: fn sees, in key order, what would go.
	DryRun bool
	// WithData hands fn the removed rows' session_data (for an audit log).
	WithData bool
}

const defaultClearBatch = 5000

// ClearExpired deletes what Django's clear_expired() deletes, rows with
// expire_date < now, in batches, and calls fn (when not nil) with each row
// removed. It returns how many were removed (or, in a dry run, would be).
// A row a concurrent save renewed before its batch ran is kept. An error
// from fn stops the work after the current batch; rows already deleted
// stay deleted and are counted.
func (s *Store) ClearExpired(ctx context.Context, now time.Time, opt ClearOptions, fn func(Row) error) (int64, error) {
	batch := opt.Batch
	if batch <= 0 {
		batch = defaultClearBatch
	}
	nowArg := s.clock.arg(now)
	if fn == nil {
		fn = func(Row) error { return nil }
	}
	if opt.DryRun {
		var n int64
		err := s.pages(ctx, s.sql.expiredSQL(opt.WithData, batch), []any{nowArg}, "", batch, 0, func(r Row) error {
			n++
			return fn(r)
		})
		return n, err
	}
	var total int64
	var resume time.Time // the latest expire_date deleted so far
	for {
		removed, err := s.clearBatch(ctx, nowArg, resume, batch, opt.WithData)
		total += int64(len(removed))
		for _, r := range removed {
			if r.ExpireDate.After(resume) {
				resume = r.ExpireDate
			}
		}
		for _, r := range removed {
			if !opt.WithData {
				r.Data, r.Version = "", Version{}
			}
			if ferr := fn(r); ferr != nil && err == nil {
				err = ferr
			}
		}
		if err != nil {
			return total, err
		}
		if len(removed) < batch {
			return total, nil
		}
	}
}

// clearBatch deletes at most batch expired rows in one transaction; on
// PostgreSQL the search starts at expire_date resume unless it is zero.
func (s *Store) clearBatch(ctx context.Context, nowArg any, resume time.Time, batch int, withData bool) ([]Row, error) {
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	if s.returning {
		query, args := s.sql.clearSQL(withData, batch, false), []any{nowArg}
		if s.sql.engine == PostgreSQL && !resume.IsZero() {
			query, args = s.sql.clearSQL(withData, batch, true), []any{nowArg, s.clock.arg(resume)}
		}
		rows, err := s.db.QueryContext(cctx, query, args...)
		if err != nil {
			return nil, s.wrapParent(ctx, err, "clearing expired sessions in %s", s.cfg)
		}
		removed, err := s.readRows(rows)
		if err != nil {
			return nil, s.wrapParent(ctx, err, "clearing expired sessions in %s", s.cfg)
		}
		return removed, nil
	}
	removed, err := s.clearBatchLocked(cctx, nowArg, batch, withData)
	if err != nil {
		return nil, s.wrapParent(ctx, err, "clearing expired sessions in %s", s.cfg)
	}
	return removed, nil
}

// clearBatchLocked is clearBatch without DELETE ... RETURNING (MySQL):
// the rows are locked by a SELECT ... FOR UPDATE, then deleted by key, so
// the list is exactly what was deleted.
func (s *Store) clearBatchLocked(ctx context.Context, nowArg any, batch int, withData bool) ([]Row, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	rows, err := tx.QueryContext(ctx, s.sql.lockExpiredSQL(withData, batch), nowArg)
	if err != nil {
		return nil, err
	}
	locked, err := s.readRows(rows)
	if err != nil || len(locked) == 0 {
		return nil, err
	}
	keys := make([]any, len(locked))
	for i, r := range locked {
		keys[i] = r.Key
	}
	if _, err := tx.ExecContext(ctx, s.sql.deleteKeysSQL(len(keys)), keys...); err != nil {
		return nil, err
	}
	return locked, tx.Commit()
}

func (s *Store) readRows(rows *sql.Rows) ([]Row, error) {
	defer rows.Close()
	var out []Row
	for rows.Next() {
		r, err := s.scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
