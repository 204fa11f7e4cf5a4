package fusefs

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

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

// processOf turns the thread id the kernel puts in a FUSE request into its
// process id (the Tgid in /proc/<tid>/status), which is what ps and an
// operator know; the thread id itself when that cannot be read. Reading
// /proc costs more than a FUSE round trip here, and every open and save
// asks (lost-update tracking), so answers are remembered for a moment: a
// thread id is reused only after the kernel has handed out every other id
// (pid_max, at least 32,768), far more than happen in 100 ms.
func processOf(tid uint32) uint32 {
	if tid == 0 {
		return 0
	}
	if pid, ok := threadProcs.get(tid); ok {
		return pid
	}
	status, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(tid), 10) + "/status")
	if err != nil {
		return tid
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			if pid, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
				threadProcs.put(tid, uint32(pid))
				return uint32(pid)
			}
		}
	}
	return tid
}

// threadProcs remembers processOf's recent answers.
var threadProcs = threadCache{ttl: 100 * time.Millisecond, max: 4096}

// threadCache maps thread ids to process ids for ttl after they were read.
type threadCache struct {
	ttl time.Duration
	max int // entries before the map is started afresh

	mu sync.Mutex
	m  map[uint32]threadEntry
}

type threadEntry struct {
	pid  uint32
	read time.Time
}

func (c *threadCache) get(tid uint32) (uint32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[tid]
	if !ok || time.Since(e.read) > c.ttl {
		return 0, false
	}
	return e.pid, true
}

func (c *threadCache) put(tid, pid uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[uint32]threadEntry)
	}
	c.m[tid] = threadEntry{pid: pid, read: time.Now()}
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
