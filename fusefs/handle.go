package fusefs

import (
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// sessionHandle is one open of a session file. A reader holds the rendering
// taken at open; a writer holds the whole document it is editing and commits
// it in Flush, the operation close(2) reports.
type sessionHandle struct {
	node   *sessionNode
	write  bool  // opened for writing
	append bool  // O_APPEND: every write goes to the end
	max    int64 // largest document a write may make

	mu      sync.Mutex
	buf     []byte
	written bool // a write or truncate happened since the last commit
	wrote   bool // any write at all: an O_TRUNC open flushed before its first write is bash's `>`
}

var (
	_ = (fs.FileReader)((*sessionHandle)(nil))
	_ = (fs.FileWriter)((*sessionHandle)(nil))
	_ = (fs.FileFlusher)((*sessionHandle)(nil))
	_ = (fs.FileFsyncer)((*sessionHandle)(nil))
	_ = (fs.FileReleaser)((*sessionHandle)(nil))
)

func (h *sessionHandle) isDirty() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.written
}

func (h *sessionHandle) size() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(len(h.buf))
}

func (h *sessionHandle) snapshot() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]byte(nil), h.buf...)
}

// Read - FUSE call.
func (h *sessionHandle) Read(ctx context.Context, dest []byte, off int64) (_ fuse.ReadResult, status syscall.Errno) {
	defer guard(h.node.root.log, "read", &status)
	h.mu.Lock()
	defer h.mu.Unlock()
	if off >= int64(len(h.buf)) {
		return fuse.ReadResultData(nil), 0
	}
	n := copy(dest, h.buf[off:]) // a copy: a later write must not change a reply in flight
	return fuse.ReadResultData(dest[:n]), 0
}

// Write - FUSE call: into the buffer only; Flush commits.
func (h *sessionHandle) Write(ctx context.Context, data []byte, off int64) (_ uint32, status syscall.Errno) {
	defer guard(h.node.root.log, "write", &status)
	if !h.write {
		return 0, syscall.EBADF
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.append {
		off = int64(len(h.buf))
	}
	end := off + int64(len(data))
	if end > h.max {
		h.node.root.log.Warn("write refused: session file over the size limit", "session", h.node.key, "size", end, "limit", h.max)
		return 0, syscall.EFBIG
	}
	if end > int64(len(h.buf)) {
		h.buf = append(h.buf, make([]byte, end-int64(len(h.buf)))...)
	}
	copy(h.buf[off:], data)
	h.written, h.wrote = true, true
	return uint32(len(data)), 0
}

// truncate resizes the buffer (ftruncate, or a truncate routed here).
func (h *sessionHandle) truncate(size uint64) syscall.Errno {
	if size > uint64(h.max) {
		return syscall.EFBIG
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if int(size) <= len(h.buf) {
		h.buf = h.buf[:size]
	} else {
		h.buf = append(h.buf, make([]byte, int(size)-len(h.buf))...)
	}
	h.written = true
	return 0
}

// Flush - FUSE call, the result of close(2). Commits what was written since
// the last commit; Flush comes once per close of a dup'ed descriptor, so a
// handle without new writes reports success without touching the store.
func (h *sessionHandle) Flush(ctx context.Context) (status syscall.Errno) {
	defer guard(h.node.root.log, "flush", &status)
	if !h.write {
		return 0
	}
	return h.node.root.commit(ctx, h)
}

// Fsync - FUSE call. Commits happen at close; an editor's fsync before it
// must not fail (vim: E667).
func (h *sessionHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

// Release - FUSE call. Asynchronous and unreported: nothing is committed here.
func (h *sessionHandle) Release(ctx context.Context) (status syscall.Errno) {
	defer guard(h.node.root.log, "release", &status)
	if h.write {
		h.node.release(h)
	}
	return 0
}
