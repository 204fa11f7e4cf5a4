package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
)

// removeSession deletes key's session if match accepts the version found
// there, and only that version: a session Django rewrote meanwhile is
// judged again (store.RemoveIf), and the audit record holds the bytes
// removed. ENOENT when there is nothing (left) to remove. why says which
// view asked, for the log. Caller holds d.changeMu, not d.mu.
func (d *rootDir) removeSession(ctx context.Context, key, why string, match func(store.Entry) bool) syscall.Errno {
	ctx = uninterruptible(ctx)
	r, err := change.Remove(ctx, d.store, key, match, audit.OpDelete, "", d.auditFor(ctx))
	if err != nil {
		return d.errno("unlink", err)
	}
	if !r.Removed {
		return syscall.ENOENT
	}
	d.counters.deletes.Add(1)
	d.log.Info("session deleted", "session", key, "via", why)
	d.mu.Lock()
	d.markChildGone(sessionName(key))
	d.mu.Unlock()
	d.forgetUsers()
	return 0
}

// markGone marks parent's session node name as gone, so open writers fail
// instead of resurrecting the session.
func markGone(parent *fs.Inode, name string) {
	if ch := parent.GetChild(name); ch != nil {
		if n, ok := ch.Operations().(*sessionNode); ok {
			n.markGone()
		}
	}
}
