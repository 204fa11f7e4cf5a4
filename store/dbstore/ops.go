package dbstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// scanRow reads (session_key, session_data, expire) into a Row.
func (s *Store) scanRow(sc interface{ Scan(...any) error }) (Row, error) {
	var key string
	var data sql.NullString
	var expire any
	if err := sc.Scan(&key, &data, &expire); err != nil {
		return Row{}, err
	}
	st := s.clock.read(expire)
	return Row{
		Key:        key,
		Data:       data.String,
		ExpireDate: st.at,
		Version:    Version{data: data.String, expire: st, valid: true},
	}, nil
}

// Get returns the row of key, expired or not (as Django's exists()), or
// store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (Row, error) {
	if err := s.CheckKey(key); err != nil {
		return Row{}, err
	}
	return s.get(ctx, key)
}

func (s *Store) get(ctx context.Context, key string) (Row, error) {
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	r, err := s.scanRow(s.db.QueryRowContext(cctx, s.sql.get, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Row{}, fmt.Errorf("session %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return Row{}, s.wrapParent(ctx, err, "reading session %s from %s", key, s.cfg)
	}
	if r.Key != key {
		// A case-insensitive collation matched another spelling of the key.
		return Row{}, fmt.Errorf("session %s (stored as %q): %w", key, r.Key, store.ErrNotFound)
	}
	return r, nil
}

// Insert creates a row as Django's save(must_create=True) does: a plain
// INSERT that fails with store.ErrExists when the key is taken, expired or
// not. It refuses with ErrCreateRefused on a table whose other columns
// need values (Schema.CreateBlockers). It returns the row it wrote.
func (s *Store) Insert(ctx context.Context, key, data string, expire time.Time) (Row, error) {
	if err := s.CheckKey(key); err != nil {
		return Row{}, err
	}
	if len(s.schema.CreateBlockers) > 0 {
		return Row{}, &dbError{
			msg: fmt.Sprintf("creating session %s: table %s refuses new rows from sessionfs: %s (a custom session model fills them; sessions can still be edited and removed)",
				key, s.cfg.Table, strings.Join(s.schema.CreateBlockers, "; ")),
			kinds: []error{ErrCreateRefused},
		}
	}
	st := s.clock.written(expire)
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	if _, err := s.db.ExecContext(cctx, s.sql.insert, key, data, st.arg); err != nil {
		return Row{}, s.wrapParent(ctx, err, "creating session %s in %s", key, s.cfg)
	}
	return s.wrote(key, data, st), nil
}

func (s *Store) wrote(key, data string, st stamp) Row {
	return Row{Key: key, Data: data, ExpireDate: st.at, Version: Version{data: data, expire: st, valid: true}}
}

// UpdateIf writes session_data and expire_date if the row is still at
// version v, and returns the row it wrote. Only those two columns change.
// When the row is gone it fails with store.ErrNotFound; when it changed
// (Django saved it since v was read) with store.ErrConflict.
func (s *Store) UpdateIf(ctx context.Context, key string, v Version, data string, expire time.Time) (Row, error) {
	if err := s.CheckKey(key); err != nil {
		return Row{}, err
	}
	st := s.clock.written(expire)
	err := s.execIf(ctx, key, v, "saving session %s to %s", s.sql.updateIf, data, st.arg, key, v.data, v.expire.arg)
	if err != nil {
		return Row{}, err
	}
	return s.wrote(key, data, st), nil
}

// RenameIf moves the row of from to key to, with everything else in the
// row (other columns included), if it is still at version v. It fails with
// store.ErrExists when to is taken, and as UpdateIf otherwise.
func (s *Store) RenameIf(ctx context.Context, from string, v Version, to string) (Row, error) {
	if err := s.CheckKey(from); err != nil {
		return Row{}, err
	}
	if err := s.CheckKey(to); err != nil {
		return Row{}, err
	}
	err := s.execIf(ctx, from, v, "renaming session %s in %s", s.sql.renameIf, to, from, v.data, v.expire.arg)
	if err != nil {
		return Row{}, err
	}
	return Row{Key: to, Data: v.data, ExpireDate: v.expire.at, Version: v}, nil
}

// DeleteIf deletes the row of key if it is still at version v, with
// UpdateIf's errors.
func (s *Store) DeleteIf(ctx context.Context, key string, v Version) error {
	if err := s.CheckKey(key); err != nil {
		return err
	}
	return s.execIf(ctx, key, v, "removing session %s from %s", s.sql.deleteIf, key, v.data, v.expire.arg)
}

// Delete deletes the row of key whatever it holds, as Django's delete()
// does; store.ErrNotFound when there is none.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.CheckKey(key); err != nil {
		return err
	}
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.db.ExecContext(cctx, s.sql.del, key)
	if err != nil {
		return s.wrapParent(ctx, err, "removing session %s from %s", key, s.cfg)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.wrap(err, "removing session %s from %s", key, s.cfg)
	} else if n == 0 {
		return fmt.Errorf("session %s: %w", key, store.ErrNotFound)
	}
	return nil
}

// execIf runs a statement guarded by version v of key's row. No row
// affected means the guard failed: a re-read tells a removed row
// (ErrNotFound) from a changed one (ErrConflict).
func (s *Store) execIf(ctx context.Context, key string, v Version, what string, query string, args ...any) error {
	if !v.valid {
		return fmt.Errorf("session %s: no version to compare with: %w", key, store.ErrConflict)
	}
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.db.ExecContext(cctx, query, args...)
	if err != nil {
		return s.wrapParent(ctx, err, what, key, s.cfg)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrap(err, what, key, s.cfg)
	}
	if n > 0 {
		return nil
	}
	cur, err := s.get(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("session %s was removed since it was read: %w", key, store.ErrNotFound)
	case err != nil:
		return err
	case cur.Version.Equal(v):
		// Unchanged, yet the guard matched nothing: the stored value does
		// not compare equal to itself as a parameter (an expire_date the
		// driver cannot render exactly). Report it rather than loop.
		return fmt.Errorf("session %s: the row cannot be matched by its stored values: %w", key, store.ErrConflict)
	}
	return fmt.Errorf("session %s changed since it was read: %w", key, store.ErrConflict)
}
