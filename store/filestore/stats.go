package filestore

import (
	"context"
	"fmt"

	"github.com/sessionfs/sessionfs/store"
)

// Stats scans the directory once, then its temp files, and returns the
// figures (store.CountStats, plus TempFiles and TempBytes).
func (s *FileStore) Stats(ctx context.Context, seen func(store.Entry)) (store.Stats, error) {
	st, err := store.CountStats(ctx, s, s.cfg.Now(), seen)
	if err != nil {
		return store.Stats{}, err
	}
	err = s.TempFiles(ctx, func(tf TempFile) error {
		st.TempFiles++
		st.TempBytes += tf.Size
		return nil
	})
	if err != nil {
		return store.Stats{}, fmt.Errorf("computing stats: %w", err)
	}
	return st, nil
}
