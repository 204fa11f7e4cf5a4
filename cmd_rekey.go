package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/store/change"
)

// rekeyCommand is `sessionfs rekey`.
func rekeyCommand() *cli.Command {
	return &cli.Command{
		Name: "rekey",
		Usage: "re-sign every live session that verifies only with a fallback key, or is stored in another format, " +
			"serializer or algorithm than --format/--serializer/--algorithm, with SECRET_KEY; content and mtimes unchanged",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only print what would be re-signed"},
		},
		Action: rekeyAction,
	}
}

func rekeyAction(c *cli.Context) error {
	st, log, err := openStoreAudited(c)
	if err != nil {
		return err
	}
	defer st.Close()
	defer log.Close()
	target, err := encodeOptions(c)
	if err != nil {
		return err
	}
	dryRun := c.Bool("dry-run")
	progress := newProgress(c.App.ErrWriter, "rekeying")
	res, err := change.Rekey(c.Context, st, change.RekeyOptions{Target: target, DryRun: dryRun}, cliAudit(log), func(it change.RekeyItem) {
		progress.tick()
		switch {
		case it.Outcome == change.RekeyCurrent, it.Outcome == change.RekeySkipped && it.Why == "expired":
			return // counted in the summary; gc removes expired sessions
		case it.Outcome == change.RekeyError, it.Outcome == change.RekeyConflict:
			fmt.Fprintf(c.App.Writer, "%s\t%s\t%v\n", it.Key, it.Outcome, it.Err)
			return
		}
		fmt.Fprintf(c.App.Writer, "%s\t%s\t%s\n", it.Key, it.Outcome, it.Why)
	})
	progress.done()
	if err != nil && !errors.Is(err, change.ErrNotLogged) {
		return err
	}
	logErr := err
	verb := "rekeyed"
	if dryRun {
		verb = "would rekey"
	}
	fmt.Fprintf(c.App.ErrWriter, "sessionfs: %s %d of %d sessions to %s/%s/%s: %d already current, %d skipped%s, %d conflicts, %d errors\n",
		verb, res.Rekeyed, res.Scanned, target.Format, target.Serializer, target.Algorithm,
		res.Current, sum(res.Skipped), parenthesized(counts(res.Skipped)), res.Conflicts, res.Errors)
	if res.Errors > 0 {
		return exitErr{code: exitError, msg: fmt.Sprintf("%d sessions could not be rekeyed", res.Errors)}
	}
	if logErr != nil {
		return fmt.Errorf("sessions rekeyed, but %w", logErr)
	}
	return nil
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
