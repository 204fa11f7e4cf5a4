package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/cacheddb"
)

// verifyCommand is `sessionfs verify`.
func verifyCommand() *cli.Command {
	return &cli.Command{
		Name: "verify",
		Usage: "decode every session; list bad signatures and corrupt files (exit 0 all good, 2 bad signatures, 3 corrupt), " +
			"and for cached_db the cache copies Django serves instead of their rows (exit 6)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per problem"},
		},
		Action: verifyAction,
	}
}

// verifyRecord is one line of `verify --json`: one per problem.
type verifyRecord struct {
	Key     string `json:"key"`
	Problem string `json:"problem"` // bad-signature, corrupt, not-regular, too-large; cache-differs, cache-only, cache-invalid
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
	if !st.Describe().Signed {
		summary = fmt.Sprintf("%d sessions: %d that do not decode (the cache values are unsigned: no signature to check)", total, corrupt)
	}
	differs := 0
	if cdb, ok := st.(*cacheddb.Store); ok {
		err := cdb.Divergent(c.Context, func(d cacheddb.Divergence) error {
			differs++
			why := divergenceText(d)
			if c.Bool("json") {
				return enc.Encode(verifyRecord{Key: d.Key, Problem: d.Problem, Error: why})
			}
			_, err := fmt.Fprintf(c.App.Writer, "%s\t%s\t%s\n", d.Key, d.Problem, why)
			return err
		})
		if err != nil {
			return fmt.Errorf("comparing the cache copies with their rows: %w", err)
		}
		summary += fmt.Sprintf("; %d cache copies Django serves instead of their rows", differs)
	}
	switch {
	case corrupt > 0:
		return exitErr{code: exitCorrupt, msg: summary}
	case badSig > 0:
		return exitErr{code: exitBadSignature, msg: summary}
	case differs > 0:
		return exitErr{code: exitCacheDiffers, msg: summary}
	}
	fmt.Fprintf(c.App.ErrWriter, "sessionfs: %s\n", summary)
	return nil
}

// divergenceText says what Django does with a cache copy that is not its
// row, and until when.
func divergenceText(d cacheddb.Divergence) string {
	until := "until the key is deleted"
	if !d.Expiry.IsZero() {
		until = "until " + d.Expiry.UTC().Format(time.RFC3339)
	}
	switch d.Problem {
	case cacheddb.CopyOnly:
		return "the row is gone or expired, but Django serves the cache copy " + until
	case cacheddb.CopyInvalid:
		return fmt.Sprintf("the cache copy does not decode (%v); Django fails to load it %s", d.Copy.Err, until)
	}
	return "Django serves the cache copy, not the row's session, " + until
}
