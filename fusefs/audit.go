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
	"github.com/sessionfs/sessionfs/store"
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

// auditing reports whether changes are logged (and the store can hand
// out the raw bytes the log hashes).
func (d *rootDir) auditing() bool { return d.opt.Audit != nil && d.ops != nil }

// sessionState is a backing file as it was at one moment, for the log.
type sessionState struct {
	raw  []byte // nil: no file
	json []byte // only when contents are logged
}

// stateOf reads key's backing file for the audit log; the zero state when
// not auditing or there is no (readable) file.
func (d *rootDir) stateOf(ctx context.Context, key string) sessionState {
	if !d.auditing() {
		return sessionState{}
	}
	raw, _, err := d.ops.ReadRaw(ctx, key)
	if err != nil {
		return sessionState{}
	}
	st := sessionState{raw: nonNilBytes(raw)}
	if d.opt.Audit.Content() {
		if sess, err := d.store.Load(ctx, key); err == nil {
			st.json = sess.JSON
		}
	}
	return st
}

// audit appends one record for the caller of ctx; a failure to log is
// itself logged (the change has happened: failing it now would lie).
func (d *rootDir) audit(ctx context.Context, rec audit.Record) {
	if !d.auditing() {
		return
	}
	if err := d.opt.Audit.Log(caller(ctx), rec); err != nil {
		d.log.Error("audit log write failed", "op", rec.Op, "session", rec.Key, "err", err)
	}
}

// auditSave logs a save of doc over before: create or write when err is
// nil, else a rejected write with the reason.
func (d *rootDir) auditSave(ctx context.Context, key string, before sessionState, doc []byte, created bool, err error) {
	if !d.auditing() {
		return
	}
	rec := audit.Record{Key: key, Before: before.raw, BeforeJSON: before.json}
	switch {
	case err != nil:
		rec.Op, rec.After, rec.Reason = audit.OpRejectedWrite, before.raw, err.Error()
		rec.AfterJSON = doc
	default:
		rec.Op = audit.OpWrite
		if created || before.raw == nil {
			rec.Op = audit.OpCreate
		}
		after := d.stateOf(ctx, key)
		rec.After, rec.AfterJSON = after.raw, after.json
	}
	d.audit(ctx, rec)
}

// auditRemoval logs a deletion made by removeSession.
func (d *rootDir) auditRemoval(ctx context.Context, r store.Removal) {
	if !d.auditing() {
		return
	}
	var js []byte
	if d.opt.Audit.Content() {
		js = r.JSON
	}
	d.audit(ctx, audit.Record{Op: audit.OpDelete, Key: r.Key, Before: nonNilBytes(r.Raw), BeforeJSON: js})
}

// nonNilBytes keeps an existing empty file (Django's placeholder) distinct
// from no file in the log's hashes.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
