package main

import (
	"bufio"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
)

// revokeCommand is `sessionfs revoke`.
func revokeCommand() *cli.Command {
	return &cli.Command{
		Name:  "revoke",
		Usage: "log a user out everywhere: delete every session of that user id, expired or not",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "user", Required: true, Usage: "the user `ID` (_auth_user_id)"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only print what would be deleted"},
		},
		Action: revokeAction,
	}
}

func revokeAction(c *cli.Context) error {
	user := c.String("user")
	if user == "" {
		return usageErrorf("revoke: --user must not be empty")
	}
	st, log, err := openStoreAudited(c)
	if err != nil {
		return err
	}
	defer st.Close()
	defer log.Close()
	dryRun := c.Bool("dry-run")
	out := bufio.NewWriter(c.App.Writer) // one write per key would cost more than the removal
	res, err := change.RevokeUser(c.Context, st, user, dryRun, cliAudit(log), func(r store.Removal) {
		fmt.Fprintln(out, r.Key)
	})
	out.Flush()
	if err != nil && !errors.Is(err, change.ErrNotLogged) {
		return err
	}
	logErr := err
	for _, f := range res.Failed {
		fmt.Fprintf(c.App.ErrWriter, "sessionfs: %v\n", f.Err)
	}
	// Django's own cache save is a GET then a SET: a request that loaded a
	// session before its removal saves it back afterwards. RevokeUser
	// looked again and removed those; the operator learns that they did.
	for _, r := range res.CameBack {
		fmt.Fprintf(c.App.ErrWriter, "sessionfs: session %s came back (a request in flight saved it after its removal) and was removed again\n", r.Key)
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	cameBack := ""
	if d := st.Describe(); d.UnguardedWriters && !dryRun && len(res.Removed) > 0 {
		cameBack = fmt.Sprintf("; looked again after %v: %d came back and were removed again", d.RecheckAfter, len(res.CameBack))
	}
	fmt.Fprintf(c.App.ErrWriter, "sessionfs: %s %d sessions of user %s (%d found, %d failed%s)\n",
		verb, len(res.Removed), user, res.Found, len(res.Failed), cameBack)
	if len(res.Failed) > 0 {
		return exitErr{code: exitError, msg: fmt.Sprintf("%d sessions of user %s were not removed", len(res.Failed), user)}
	}
	return logErr
}
