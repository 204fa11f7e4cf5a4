package fusefs

import (
	"context"
	"os"
	"strconv"
	"strings"

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
