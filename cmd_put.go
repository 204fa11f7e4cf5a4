package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
)

// putCommand is `sessionfs put`.
func putCommand() *cli.Command {
	return &cli.Command{
		Name:      "put",
		Usage:     "save the JSON object on stdin as session KEY (created or replaced)",
		ArgsUsage: "KEY",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "create", Usage: "require a new key, as Django's must_create (exit 5 when taken)"},
			&cli.BoolFlag{Name: "keep-mtime", Usage: "keep the file's modification time, so an mtime-based expiry does not move"},
		},
		Action: putAction,
	}
}

// maxPutInput bounds what put reads from stdin.
const maxPutInput = 64 << 20

func putAction(c *cli.Context) error {
	key, err := singleKey(c)
	if err != nil {
		return err
	}
	st, log, err := openStoreAudited(c)
	if err != nil {
		return err
	}
	defer st.Close()
	defer log.Close()
	input, err := readStdin(c, "session JSON from stdin", maxPutInput)
	if err != nil {
		return err
	}
	opt := store.SaveOptions{MustCreate: c.Bool("create")}
	if c.Bool("keep-mtime") && !opt.MustCreate {
		meta, err := st.Stat(c.Context, key)
		switch {
		case err == nil:
			opt.KeepExpiry, opt.IfMatch = true, meta.Version
		case errors.Is(err, store.ErrNotFound):
		default:
			return err
		}
	}
	_, err = change.Save(c.Context, st, key, input, opt, cliAudit(log))
	return err
}
