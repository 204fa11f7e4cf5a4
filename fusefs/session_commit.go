package fusefs

import (
	"context"
	"syscall"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
)

// uninterruptible detaches a change from the caller's interruption: a save,
// removal, rename or touch that has begun completes. go-fuse cancels a
// request's context when the kernel forwards a signal (FUSE_INTERRUPT), and
// Go programs get signals all the time (the runtime preempts goroutines
// with SIGURG): a close() failing with EINTR would leave the caller unsure
// whether its save happened, and Go's Close does not retry.
func uninterruptible(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// commit saves a writer's document through the store (encode, sign, temp
// file, rename). Invalid content fails with EINVAL and leaves the backing
// file as it was; the reason goes to the log, because close(2) can only
// carry an errno. d.mu is held only to decide and to update the namespace:
// lookups and listings go on while the store saves (and fsyncs).
func (d *rootDir) commit(ctx context.Context, h *sessionHandle) syscall.Errno {
	ctx = uninterruptible(ctx)
	defer d.lockChanges()()
	n := h.node
	d.mu.Lock()
	n.mu.Lock()
	key, state := n.key, n.state
	idle := n.dirtyWriter() == nil
	n.mu.Unlock()
	if state.pending() && !h.isDirty() && idle {
		// A create closed with nothing written makes no session: the name
		// goes now, not at the asynchronous Release. A descriptor still
		// open (bash's `>` flushes a dup first) commits later all the
		// same: the node stays pending.
		d.ns.abandon(key, n)
	}
	d.mu.Unlock()
	saved, e := d.saveHandle(ctx, h, key, state)
	if !saved {
		return e
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n.mu.Lock() // after the handle's lock is released: the order is node, then handle
	n.state = n.state.saved()
	n.mu.Unlock()
	d.ns.saved(key, n)
	return 0
}

// saveHandle saves h's buffer if it was written since the last commit and
// reports whether it did. An edit keeps the session's expiry
// (SaveOptions.KeepExpiry): only `touch` renews it. Caller holds
// d.changeMu, not d.mu nor the node's lock.
func (d *rootDir) saveHandle(ctx context.Context, h *sessionHandle, key string, state sessionState) (bool, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != 0 {
		if !h.reported {
			h.reported = true
			d.counters.rejectedWrites.Add(1)
			change.Refuse(ctx, d.store, key, nil, "a write to the open file failed: "+h.failed.Error(), d.auditFor(ctx))
			d.log.Warn("save refused, session unchanged: a write to this open file failed, so it does not hold what the caller meant to write",
				"session", key, "write_error", h.failed.Error())
		}
		return false, h.failed
	}
	if !h.written {
		return false, 0 // bash's close of a dup'ed descriptor, or a writer that only read
	}
	if state.gone() {
		d.log.Warn("save refused: the session was removed or renamed while open", "session", key)
		return false, syscall.ESTALE
	}
	opt := store.SaveOptions{KeepExpiry: true, MustCreate: state.mustCreate()}
	if !opt.MustCreate {
		opt.IfMatch = d.baseVersion(h.opener, key)
	}
	a := d.auditFor(ctx)
	// bash's `>` closes its first descriptor before writing: not worth a
	// warning, nor an audit record, and bash ignores the error anyway.
	quiet := h.buf.len() == 0 && !h.wrote && !h.cut
	if quiet {
		a = change.Audit{}
	}
	saved, err := change.Save(ctx, d.store, key, h.buf.bytes(), opt, a)
	if err != nil {
		switch {
		case quiet:
			d.log.Debug("empty content not saved", "session", key)
		case h.buf.len() == 0:
			// `truncate -s 0 KEY.json`, or a tool that emptied the file:
			// an empty document is not a session.
			d.counters.rejectedWrites.Add(1)
			d.log.Warn("save rejected, session unchanged: an empty file is not a session (rm KEY.json deletes a session)", "session", key, "err", err)
		default:
			d.counters.rejectedWrites.Add(1)
			d.log.Warn("save rejected, session unchanged", append([]any{"session", key, "err", err}, conflictHint(err)...)...)
		}
		return false, d.errno("flush", err)
	}
	d.counters.writes.Add(1)
	d.noteVersion(h.opener, key, saved.Version)
	d.log.Info("session saved", "session", key, "created", saved.Created)
	h.written = false
	return true, 0
}
