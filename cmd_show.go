package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/codec"
)

// showCommand is `sessionfs show`.
func showCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print a session as pretty JSON",
		ArgsUsage: "KEY",
		Action:    showAction,
	}
}

func singleKey(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", usageErrorf("%s needs exactly one session KEY", c.Command.Name)
	}
	return c.Args().First(), nil
}

func showAction(c *cli.Context) error {
	key, err := singleKey(c)
	if err != nil {
		return err
	}
	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer st.Close()
	sess, err := st.Load(c.Context, key)
	if err != nil {
		return err
	}
	pretty, err := codec.Pretty(sess.JSON)
	if err != nil {
		return fmt.Errorf("rendering session %s: %w", key, err)
	}
	if sess.Expired(time.Now()) {
		fmt.Fprintf(c.App.ErrWriter, "sessionfs: session %s is expired: Django would discard it\n", key)
	}
	_, err = c.App.Writer.Write(pretty)
	return err
}
