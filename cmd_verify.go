package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/store"
)

// verifyCommand is `sessionfs verify`.
func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "decode every session; list bad signatures and corrupt files (exit 0 all good, 2 bad signatures, 3 corrupt)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per problem"},
		},
		Action: verifyAction,
	}
}

// verifyRecord is one line of `verify --json`: one per problem.
type verifyRecord struct {
	Key     string `json:"key"`
	Problem string `json:"problem"` // bad-signature, corrupt, not-regular, too-large
	Error   string `json:"error"`
}

func verifyAction(c *cli.Context) error {
	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer st.Close()
	enc := json.NewEncoder(c.App.Writer)
	enc.SetEscapeHTML(false)
	progress := newProgress(c.App.ErrWriter, "verifying")
	var total, badSig, corrupt int
	err = st.Scan(c.Context, func(e store.Entry) error {
		progress.tick()
		total++
		if e.Err == nil {
			return nil
		}
		kind := store.Problem(e.Err)
		if kind == "bad-signature" {
			badSig++
		} else {
			corrupt++
		}
		if c.Bool("json") {
			return enc.Encode(verifyRecord{Key: e.Key, Problem: kind, Error: e.Err.Error()})
		}
		_, err := fmt.Fprintf(c.App.Writer, "%s\t%s\t%v\n", e.Key, kind, e.Err)
		return err
	})
	progress.done()
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("%d sessions: %d bad signature, %d corrupt", total, badSig, corrupt)
	switch {
	case corrupt > 0:
		return exitErr{code: exitCorrupt, msg: summary}
	case badSig > 0:
		return exitErr{code: exitBadSignature, msg: summary}
	}
	fmt.Fprintf(c.App.ErrWriter, "sessionfs: %s\n", summary)
	return nil
}
