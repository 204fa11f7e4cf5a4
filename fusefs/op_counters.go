package fusefs

import (
	"sync/atomic"

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
