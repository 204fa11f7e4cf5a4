package fusefs

import (
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// sessionHandle is one open of a session file. A reader holds the shared
// rendering of the version it opened; a writer holds the whole document it
// is editing and commits it in Flush, the operation close(2) reports.
type sessionHandle struct {
	node   *sessionNode
	write  bool   // opened for writing
	append bool   // O_APPEND: every write goes to the end
	max    int64  // largest document a write may make
	opener procID // the process that opened it: its saves are conditional on what it read (conflict.go)

	doc    *rendering // a reader's content, shared with the other readers of that version
	cached bool       // a reader through the page cache (sessionNode.cacheIfSealed)

	mu      sync.Mutex
	buf     pageBuf // a writer's document (or a pending file's), charged to the buffer budget
	written bool    // a write or truncate happened since the last commit
	wrote   bool    // any write at all: an O_TRUNC open flushed before its first write is bash's `>`
	cut     bool    // truncated by ftruncate or truncate(2), not only by O_TRUNC at open
	// failed is the error of a write or truncate this handle refused. What
	// the buffer holds then is not what the caller meant to write (cp of an
	// oversized file leaves its first 16 MiB, which may well be valid JSON):
	// the handle never commits, and every later flush fails with failed.
	failed   syscall.Errno
	reported bool // the refusal of a commit because of failed was logged
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
	return int64(h.buf.len())
}

func (h *sessionHandle) snapshot() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]byte(nil), h.buf.bytes()...)
}

// hold copies doc into the handle's buffer, charging the buffer budget
// (ENOMEM past it). Before the handle is shared.
func (h *sessionHandle) hold(doc []byte) syscall.Errno {
	charge := func(delta int64) syscall.Errno { return h.chargeFor("open", delta) }
	if e := h.buf.resize(len(doc), charge); e != 0 {
		return e
	}
	copy(h.buf.bytes(), doc)
	return 0
}

// charge is the buffer's growth (or shrinking) by a write or truncate,
// asked of the buffer budget.
func (h *sessionHandle) charge(delta int64) syscall.Errno { return h.chargeFor("write", delta) }

func (h *sessionHandle) chargeFor(op string, delta int64) syscall.Errno {
	d := h.node.root
	if !d.buffers.take(delta) {
		return d.buffers.refuse(op, sessionName(h.node.key), delta)
	}
	return 0
}

// fail records that a write or truncate was refused with e: the handle will
// never commit, and its buffer is given back. Caller holds h.mu.
func (h *sessionHandle) fail(e syscall.Errno) syscall.Errno {
	h.failed = e
	h.buf.free(h.charge)
	h.written = false // no longer the writer whose size the file shows
	return e
}

// Read - FUSE call.
func (h *sessionHandle) Read(ctx context.Context, dest []byte, off int64) (_ fuse.ReadResult, status syscall.Errno) {
	if h.doc != nil {
		return readAt(h.doc.data, dest, off), 0 // shared bytes that never change: no lock
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return readAt(h.buf.bytes(), dest, off), 0 // a copy: a later write must not change a reply in flight
}

// Write - FUSE call: into the buffer only; Flush commits.
func (h *sessionHandle) Write(ctx context.Context, data []byte, off int64) (_ uint32, status syscall.Errno) {
	if !h.write {
		return 0, syscall.EBADF
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != 0 {
		return 0, h.failed
	}
	if h.append {
		off = int64(h.buf.len())
	}
	end := off + int64(len(data))
	if end > h.max {
		h.node.root.log.Warn("write refused: session file over the size limit; this open file will not be saved", "session", h.node.key, "size", end, "limit", h.max)
		return 0, h.fail(syscall.EFBIG)
	}
	if end > int64(h.buf.len()) {
		if e := h.buf.resize(int(end), h.charge); e != 0 {
			return 0, h.fail(e)
		}
	}
	copy(h.buf.bytes()[off:], data)
	h.written, h.wrote = true, true
	return uint32(len(data)), 0
}

// truncate resizes the buffer (ftruncate, or a truncate routed here).
func (h *sessionHandle) truncate(size uint64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != 0 {
		return h.failed
	}
	if size > uint64(h.max) {
		h.node.root.log.Warn("truncate refused: session file over the size limit; this open file will not be saved", "session", h.node.key, "size", size, "limit", h.max)
		return h.fail(syscall.EFBIG)
	}
	if e := h.buf.resize(int(size), h.charge); e != 0 {
		return h.fail(e)
	}
	h.written, h.cut = true, true
	return 0
}

// Flush - FUSE call, the result of close(2). Commits what was written since
// the last commit; Flush comes once per close of a dup'ed descriptor, so a
// handle without new writes reports success without touching the store.
func (h *sessionHandle) Flush(ctx context.Context) (status syscall.Errno) {
	if !h.write {
		return 0
	}
	return h.node.root.commit(ctx, h)
}

// Fsync - FUSE call. Commits happen at close; an editor's fsync before it
// must not fail (vim: E667).
func (h *sessionHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

// Release - FUSE call. Asynchronous and unreported: nothing is committed
// here; what the handle held goes back to the buffer budget.
func (h *sessionHandle) Release(ctx context.Context) (status syscall.Errno) {
	if h.doc != nil {
		h.node.root.releaseRendering(h.doc)
	}
	if h.cached {
		h.node.uncache(h)
	}
	if h.write {
		h.node.release(h)
	}
	h.mu.Lock()
	h.buf.free(h.charge)
	h.mu.Unlock()
	return 0
}
