package fusefs

import (
	"errors"
	"sync/atomic"
	"syscall"

	"github.com/sessionfs/sessionfs/store"
)

// opCounters are this mount's operation counts since it started, shown in
// .stats.json.
type opCounters struct {
	reads          atomic.Uint64 // session files opened and read from the store
	writes         atomic.Uint64 // saves (close, rename onto a session, re-key)
	rejectedWrites atomic.Uint64 // saves refused: invalid content, key taken, conflict...
	deletes        atomic.Uint64 // sessions removed (rm, here or in a view)
	errors         atomic.Uint64 // operations failed for a reason other than the caller's input
}

func (c *opCounters) snapshot() *store.OpCounts {
	return &store.OpCounts{
		Reads:          c.reads.Load(),
		Writes:         c.writes.Load(),
		RejectedWrites: c.rejectedWrites.Load(),
		Deletes:        c.deletes.Load(),
		Errors:         c.errors.Load(),
	}
}

// errno is the package's errno (the one mapping) that also counts the
// failures that are not the caller's doing: I/O errors, a full disk,
// permissions in the backing directory, store bugs.
func (d *rootDir) errno(op string, err error) syscall.Errno {
	e := errno(d.log, op, err)
	if isCallerError(e) || errors.Is(err, store.ErrNotRegular) {
		return e
	}
	d.counters.errors.Add(1)
	return e
}

// isCallerError: errnos that answer the request as asked (no such name,
// invalid content or key, taken, too large, interrupted, stale handle).
func isCallerError(e syscall.Errno) bool {
	switch e {
	case 0, syscall.ENOENT, syscall.EINVAL, syscall.EEXIST, syscall.EFBIG, syscall.EINTR,
		syscall.ESTALE, syscall.EROFS, syscall.EPERM, syscall.EBUSY, syscall.ENOTEMPTY:
		return true
	}
	return false
}
