package fusefs

import (
	"errors"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

// Where a stored session shows: by its store.State, live at the top level
// and in .by-user, expired in .expired, invalid in .invalid.

// live reports whether e decodes and Django would load it at now.
func (d *rootDir) live(e store.Entry, now time.Time) bool {
	return store.StateOf(d.store, e, now) == store.StateLive
}

// expired reports whether e decodes but Django would discard it at now.
func (d *rootDir) expired(e store.Entry, now time.Time) bool {
	return store.StateOf(d.store, e, now) == store.StateExpired
}

// showsInvalid reports whether e is shown in .invalid: invalid, and a
// regular file of the backing directory (a symlink, fifo or directory
// planted there is never opened through the mount).
func (d *rootDir) showsInvalid(e store.Entry, now time.Time) bool {
	return store.StateOf(d.store, e, now) == store.StateInvalid &&
		!errors.Is(e.Err, store.ErrNotRegular) && !errors.Is(e.Err, store.ErrNotFound)
}
