package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
)

// rmCommand is `sessionfs rm`.
func rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "delete sessions (their users are logged out)",
		ArgsUsage: "KEY...",
		Action:    rmAction,
	}
}

func rmAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageErrorf("rm needs at least one session KEY")
	}
	st, log, err := openStoreAudited(c)
	if err != nil {
		return err
	}
	defer st.Close()
	defer log.Close()
	var missing, failed error
	for _, key := range c.Args().Slice() {
		r, err := change.Remove(c.Context, st, key, func(store.Entry) bool { return true }, audit.OpDelete, "", cliAudit(log))
		if err == nil && !r.Removed {
			err = fmt.Errorf("session %s: %w", key, store.ErrNotFound)
		}
		switch {
		case err == nil:
		case errors.Is(err, store.ErrNotFound):
			fmt.Fprintf(c.App.ErrWriter, "sessionfs: %v\n", err)
			missing = err
		default:
			fmt.Fprintf(c.App.ErrWriter, "sessionfs: %v\n", err)
			if failed == nil {
				failed = err
			}
		}
	}
	// Every key was tried; the exit code reports the worst outcome.
	if failed != nil {
		return exitErr{code: exitCode(failed), msg: "some sessions were not removed"}
	}
	if missing != nil {
		return exitErr{code: exitNotFound, msg: "some sessions did not exist"}
	}
	return nil
}
