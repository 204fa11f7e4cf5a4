package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/sessionfs/sessionfs/store"
)

// removeSession deletes key's backing file if match accepts the version
// found there, and only that version: a session Django rewrote meanwhile
// is judged again (store.RemoveIf). ENOENT when there is nothing (left)
// to remove. why says which view asked, for the log. Caller holds d.mu.
func (d *rootDir) removeSession(ctx context.Context, key, why string, match func(store.Entry) bool) syscall.Errno {
	ctx = uninterruptible(ctx)
	r, err := d.ops.RemoveIf(ctx, key, false, match)
	if err != nil {
		return d.errno("unlink", err)
	}
	if !r.Removed {
		return syscall.ENOENT
	}
	d.counters.deletes.Add(1)
	d.auditRemoval(ctx, r)
	d.log.Info("session deleted", "session", key, "via", why)
	d.markChildGone(sessionName(key))
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
