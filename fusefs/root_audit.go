package fusefs

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/store/change"
)

// caller is the process FUSE names for a request: uid and pid from the
// request header, the command name from /proc (best effort: the process
// may have exited, or live in another pid namespace).
func caller(ctx context.Context) audit.Caller {
	c, ok := fuse.FromContext(ctx)
	if !ok {
		return audit.Caller{}
	}
	out := audit.Caller{UID: c.Uid, PID: processOf(c.Pid)}
	if out.PID != 0 {
		if comm, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(out.PID), 10) + "/comm"); err == nil {
			out.Comm = strings.TrimSpace(string(comm))
		}
	}
	return out
}

// auditFor is the audit of a change asked for by the caller of ctx: the
// mount's log, with the process FUSE names as the caller (read only when
// there is a log). A failure to write a record is logged: the change has
// happened (or been refused) all the same, and failing it now would lie.
func (d *rootDir) auditFor(ctx context.Context) change.Audit {
	return change.Audit{
		Log:    d.opt.Audit,
		Caller: func() audit.Caller { return caller(ctx) },
		LogFailed: func(rec audit.Record, err error) {
			d.log.Error("audit log write failed", "op", rec.Op, "session", rec.Key, "err", err)
		},
	}
}
