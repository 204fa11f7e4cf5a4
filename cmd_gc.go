package main

import (
	"bufio"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
)

// gcCommand is `sessionfs gc`.
func gcCommand() *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "delete expired sessions, exactly those Django's clear_expired deletes, and stale temp files",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only print what would be deleted"},
			&cli.BoolFlag{Name: "keep-temp", Usage: "do not remove leftover _out_ temp files older than a minute"},
		},
		Action: gcAction,
	}
}

func gcAction(c *cli.Context) error {
	st, log, err := openStoreAudited(c)
	if err != nil {
		return err
	}
	defer st.Close()
	defer log.Close()
	if d := st.Describe(); d.Backend == "cache" {
		// Django's clear_expired does nothing here either: the server drops
		// each key when its TTL ends, so there is never an expired session.
		fmt.Fprintf(c.App.ErrWriter, "sessionfs: nothing to do: the cache server (%s) drops each session when its TTL ends\n", d.Location)
		return nil
	}
	dryRun := c.Bool("dry-run")
	progress := newProgress(c.App.ErrWriter, "scanning")
	res, err := change.ClearExpired(c.Context, st, store.ClearOptions{DryRun: dryRun, KeepLeftovers: c.Bool("keep-temp")},
		cliAudit(log), func(store.Entry) { progress.tick() })
	progress.done()
	// One write per key would cost more than deciding what to remove: the
	// names go out buffered, before the summary on standard error.
	out := bufio.NewWriter(c.App.Writer)
	for _, key := range res.Removed {
		fmt.Fprintln(out, key)
	}
	for _, name := range res.Leftovers {
		fmt.Fprintln(out, name)
	}
	out.Flush()
	if err != nil {
		return err
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	fmt.Fprintf(c.App.ErrWriter, "sessionfs: %s %d expired of %d sessions and %d stale temp files\n",
		verb, len(res.Removed), res.Scanned, len(res.Leftovers))
	return nil
}
