package fusefs

import (
	"log/slog"
	"sync/atomic"
	"syscall"
)

// FlagMaxBufferMemory is the mount flag that sets Options.MaxBufferMemory;
// refusals name it in the log, so an operator knows which limit was hit.
const FlagMaxBufferMemory = "--max-buffer-memory"

// bufferBudget bounds the bytes the mount holds on behalf of its callers:
// the buffers of files open for writing, the scratch area's files and the
// renderings open files read from. Each is charged by capacity, not by
// length, so shrinking a file never hides memory still held. Past the
// limit the operation that would grow fails with ENOMEM, and nothing
// already held is touched.
type bufferBudget struct {
	max  int64 // negative: no limit
	used atomic.Int64
	log  *slog.Logger
}

// take charges n more bytes (negative gives back), or reports false and
// charges nothing when that would exceed the limit.
func (b *bufferBudget) take(n int64) bool {
	if n <= 0 {
		b.used.Add(n)
		return true
	}
	if used := b.used.Add(n); b.max >= 0 && used > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

// give returns n bytes taken before.
func (b *bufferBudget) give(n int64) { b.used.Add(-n) }

// refuse logs why op was refused and returns ENOMEM: the caller's tool
// prints "Cannot allocate memory", the log says which limit.
func (b *bufferBudget) refuse(op, name string, want int64) syscall.Errno {
	b.log.Warn(op+" refused: the mount's buffer memory is full; close files open on the mount, or raise "+FlagMaxBufferMemory,
		"name", name, "bytes", want, "in_use", b.used.Load(), "limit", b.max)
	return syscall.ENOMEM
}
