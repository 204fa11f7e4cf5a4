package main

// The CLI side of the audit log: every change a command makes is one line
// (audit package), with the CLI itself as the caller.

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/store"
)

const (
	flagAuditLog        = "audit-log"
	flagAuditLogContent = "audit-log-content"
	auditCategory       = "Audit"
)

func auditFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagAuditLog, Category: auditCategory, EnvVars: []string{"SESSIONFS_AUDIT_LOG"}, TakesFile: true,
			Usage: "append one JSON line per change (put, rm, gc, revoke, rekey; the mount's writes) to `FILE` (created 0600)"},
		&cli.BoolFlag{Name: flagAuditLogContent, Category: auditCategory, EnvVars: []string{"SESSIONFS_AUDIT_LOG_CONTENT"},
			Usage: "also log session contents (before and after) in the audit log; off by default: sessions hold personal data"},
	}
}

// opsSettingsFlags are the shared settings this file and settings_django.go
// add: accepted before and after every command name once main.go's
// settingsFlags includes them.
func opsSettingsFlags() []cli.Flag {
	return append(djangoFlags(), auditFlags()...)
}

// openStoreAudited opens the store and the audit log (nil when --audit-log
// is not given) of a command that changes sessions.
func openStoreAudited(c *cli.Context) (*store.FileStore, *audit.Logger, error) {
	st, err := newStore(c)
	if err != nil {
		return nil, nil, err
	}
	log, err := openAuditLog(c)
	if err != nil {
		return nil, nil, err
	}
	return st, log, nil
}

// openAuditLog opens --audit-log; nil (which logs nothing) when not given.
func openAuditLog(c *cli.Context) (*audit.Logger, error) {
	path := settingString(c, flagAuditLog)
	if path == "" {
		return nil, nil
	}
	return audit.Open(path, audit.Options{Content: settingBool(c, flagAuditLogContent)})
}

// auditState is a session as it was before a change, for the audit log.
type auditState struct {
	key  string
	raw  []byte // nil: no file
	json []byte // only when contents are logged
}

// auditBefore reads key's file before a change; nothing when not auditing.
// With contents the session is decoded by a second read, which a Django
// save could slip between: the hash is exact, the content best effort.
func auditBefore(c *cli.Context, st *store.FileStore, log *audit.Logger, key string) auditState {
	state := auditState{key: key}
	if log == nil {
		return state
	}
	raw, _, err := st.ReadRaw(c.Context, key)
	if err != nil {
		return state // absent, or not a session file: Save will say why
	}
	state.raw = nonNil(raw)
	if log.Content() {
		if sess, err := st.Load(c.Context, key); err == nil {
			state.json = sess.JSON
		}
	}
	return state
}

// auditSave logs the outcome of a Save (meta, saveErr) of input over
// before, and returns saveErr, or the audit failure.
func auditSave(c *cli.Context, st *store.FileStore, log *audit.Logger, before auditState, input []byte, meta store.Meta, saveErr error) error {
	if log == nil {
		return saveErr
	}
	rec := audit.Record{Key: before.key, Before: before.raw, BeforeJSON: before.json}
	if saveErr != nil {
		rec.Op, rec.After, rec.AfterJSON, rec.Reason = audit.OpRejectedWrite, before.raw, input, saveErr.Error()
		if err := log.Log(audit.Self(), rec); err != nil {
			return errors.Join(saveErr, err)
		}
		return saveErr
	}
	rec.Op = audit.OpWrite
	if before.raw == nil {
		rec.Op = audit.OpCreate
	}
	raw, id, err := st.ReadRaw(c.Context, before.key)
	if err == nil && id.Equal(meta.ID) {
		rec.After = nonNil(raw)
		if log.Content() {
			if sess, err := st.Load(c.Context, before.key); err == nil && sess.ID.Equal(meta.ID) {
				rec.AfterJSON = sess.JSON
			}
		}
	} else {
		rec.Reason = "replaced by another writer before it could be hashed"
	}
	if err := log.Log(audit.Self(), rec); err != nil {
		return fmt.Errorf("session %s saved, but %w", before.key, err)
	}
	return nil
}

// auditRemoval logs one removal done by RemoveIf (rm, gc, revoke).
func auditRemoval(log *audit.Logger, op audit.Op, r store.Removal, reason string) error {
	err := log.Log(audit.Self(), audit.Record{Op: op, Key: r.Key, Before: nonNil(r.Raw), BeforeJSON: r.JSON, Reason: reason})
	if err != nil {
		return fmt.Errorf("session %s removed, but %w", r.Key, err)
	}
	return nil
}

// clearExpiredAudited is gc when auditing: each expired session is removed
// by RemoveIf, which hands back the bytes removed (ClearExpired, faster,
// does not). A session Django renewed since the scan is kept.
func clearExpiredAudited(c *cli.Context, st *store.FileStore, log *audit.Logger, progress *progress) (store.ClearResult, error) {
	now := time.Now()
	candidates, err := st.ClearExpiredFunc(c.Context, true, func(store.Entry) { progress.tick() })
	res := store.ClearResult{Scanned: candidates.Scanned}
	if err != nil {
		return res, err
	}
	var firstErr error
	for _, key := range candidates.Removed {
		r, err := st.RemoveIf(c.Context, key, false, func(e store.Entry) bool { return st.ExpiredForDjango(e, now) })
		if err == nil && r.Removed {
			res.Removed = append(res.Removed, key)
			err = auditRemoval(log, audit.OpGC, r, "expired")
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("clearing expired sessions: %w", err)
		}
	}
	return res, firstErr
}

// nonNil makes an existing empty file (Django's placeholder) distinct from
// no file at all in the audit log's hashes.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
