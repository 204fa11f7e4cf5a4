// Package parallel runs the decoding of a listing's batch on several
// goroutines, for the store backends' Scans.
package parallel

import (
	"context"
	"sync"
	"sync/atomic"
)

// For calls fn(i) for every i in [0, n) on up to workers goroutines (at
// least one when n > 0), each taking the next index as it is free. It
// stops handing out indexes once ctx is done, and returns when every call
// has returned.
func For(ctx context.Context, n, workers int, fn func(i int)) {
	workers = max(1, min(workers, n))
	if n == 0 {
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}
