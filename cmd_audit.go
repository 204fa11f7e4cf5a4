package main

// The CLI side of the audit log: every change a command makes is one line
// (audit package), with the CLI itself as the caller, written by the same
// policy as the mount's (store/change).

import (
	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
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
func openStoreAudited(c *cli.Context) (store.Store, *audit.Logger, error) {
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

// cliAudit is the audit of the CLI's own changes: the log, with the CLI
// itself as the caller.
func cliAudit(log *audit.Logger) change.Audit {
	return change.Audit{Log: log, Caller: audit.Self}
}
