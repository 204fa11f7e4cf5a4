package fusefs

import (
	"errors"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// The three states a stored session shows in: live (the top level,
// .by-user), expired (.expired) and invalid (.invalid). Whether a session
// has expired is the backend's rule (store.Store.Expired), the one gc
// clears by.

// live reports whether e decodes and Django would load it at now.
func (d *rootDir) live(e store.Entry, now time.Time) bool {
	return e.Err == nil && !d.store.Expired(e, now)
}

// expired reports whether e decodes but Django would discard it at now.
func (d *rootDir) expired(e store.Entry, now time.Time) bool {
	return e.Err == nil && d.store.Expired(e, now)
}

// isInvalid: a backing file that does not decode. Only regular files of
// the backing directory: a symlink, fifo or directory planted there is
// never opened through the mount.
func isInvalid(e store.Entry) bool {
	return e.Err != nil && !errors.Is(e.Err, store.ErrNotRegular) && !errors.Is(e.Err, store.ErrNotFound)
}
