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

// openStoreAudited opens the store and the audit log (nil when --audit-log
// is not given) of a command that changes sessions.
func openStoreAudited(c *cli.Context) (store.Store, *audit.Logger, error) {
	st, err := openStore(c)
	if err != nil {
		return nil, nil, err
	}
	log, err := openAuditLog(c)
	if err != nil {
		st.Close()
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
