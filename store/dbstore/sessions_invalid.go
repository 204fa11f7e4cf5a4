package dbstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/sessionfs/sessionfs/store"
)

// Rows stored under a key that is not Django's shape are listed by their
// DisplayKey (an error entry wrapping store.ErrInvalidKey). Stat, ReadRaw
// and RemoveIf also take that name, so such a row can be looked at and
// removed (the mount's .invalid/); every other operation refuses it, as
// Django never loads it.

// parseDisplayKey returns the stored key that DisplayKey shows as name,
// when name is exactly what DisplayKey makes of it.
func parseDisplayKey(name string) (string, bool) {
	if name == "%" {
		return "", true
	}
	b := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(name) || unhex(name[i+1]) < 0 || unhex(name[i+2]) < 0 {
			return "", false
		}
		b = append(b, byte(unhex(name[i+1])<<4|unhex(name[i+2])))
		i += 2
	}
	key := string(b)
	return key, DisplayKey(key) == name
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// invalidRow reads the row a display name stands for, when the name
// (refused by CheckKey with keyErr) is the DisplayKey of a key that is not
// Django's shape. keyErr is returned for a name that is no such display
// name, and also when no row is stored under the key.
func (s *Sessions) invalidRow(ctx context.Context, name string, keyErr error) (Row, error) {
	key, ok := parseDisplayKey(name)
	if !ok || s.db.CheckKey(key) == nil {
		return Row{}, keyErr
	}
	if err := ctx.Err(); err != nil {
		return Row{}, err
	}
	r, err := s.db.get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		// No row under it: the name is what it seemed, no key at all.
		return Row{}, keyErr
	}
	return r, err
}

// removeInvalid is RemoveIf for the row a display name stands for.
func (s *Sessions) removeInvalid(ctx context.Context, name string, keyErr error, dryRun bool, match func(store.Entry) bool) (store.Removal, error) {
	gone := store.Removal{Entry: store.Entry{Meta: store.Meta{Key: name}}}
	for i := range writeAttempts {
		cur, err := s.invalidRow(ctx, name, keyErr)
		if i > 0 && err == keyErr {
			return gone, nil // removed by another since the first look
		}
		if err != nil {
			return gone, err
		}
		_, meta, decErr := s.decodeRow(cur)
		r := store.Removal{Entry: store.Entry{Meta: meta, Err: decErr}, Raw: s.rawOf(cur)}
		if !match(r.Entry) {
			r.Raw = nil
			return r, nil
		}
		if dryRun {
			r.Removed = true
			return r, nil
		}
		n, err := s.db.deleteRowIf(ctx, cur)
		if err != nil {
			return r, fmt.Errorf("removing row %s: %w", name, err)
		}
		if n > 0 {
			r.Removed = true
			return r, nil
		}
		// Changed or removed since read: look again.
	}
	return gone, fmt.Errorf("row %s: %w (rewritten %d times while removing it)", name, store.ErrConflict, writeAttempts)
}

// deleteRowIf deletes r's row if it still holds what was read, whatever
// its key; it returns the number of rows deleted.
func (s *Store) deleteRowIf(ctx context.Context, r Row) (int64, error) {
	if !r.Version.valid {
		return 0, store.ErrConflict
	}
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.db.ExecContext(cctx, s.sql.deleteIf, r.Key, r.Version.data, r.Version.expire.arg)
	if err != nil {
		return 0, s.wrapParent(ctx, err, "removing a row from %s", s.cfg)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.wrap(err, "removing a row from %s", s.cfg)
	}
	return n, nil
}
