package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
)

// maxPutInput bounds what put reads from stdin.
const maxPutInput = 64 << 20

func storeCommands() []*cli.Command {
	cmds := []*cli.Command{
		{
			Name:  "ls",
			Usage: "list the sessions of the backing directory (directory order, streamed; --sort reads the listing into memory)",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "one JSON object per line (fields: see README)"},
				&cli.StringFlag{Name: "user", Usage: "only the sessions of user `ID` (_auth_user_id)"},
				&cli.BoolFlag{Name: "expired", Usage: "only expired sessions: what gc would delete"},
				&cli.BoolFlag{Name: "invalid", Usage: "only files that do not decode (bad signature, corrupt)"},
				&cli.StringFlag{Name: "older-than", Usage: "only files last modified longer ago than `DURATION` (90m, 36h, 7d, 1d12h)"},
				&cli.StringFlag{Name: "sort", Usage: "sort by `FIELD`: key, modified (oldest first), expires (soonest first), size (largest first), user; holds the whole listing in memory"},
			},
			Action: lsAction,
		},
		{
			Name:      "show",
			Usage:     "print a session as pretty JSON",
			ArgsUsage: "KEY",
			Action:    showAction,
		},
		{
			Name:      "put",
			Usage:     "save the JSON object on stdin as session KEY (created or replaced)",
			ArgsUsage: "KEY",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "create", Usage: "require a new key, as Django's must_create (exit 5 when taken)"},
				&cli.BoolFlag{Name: "keep-mtime", Usage: "keep the file's modification time, so an mtime-based expiry does not move"},
			},
			Action: putAction,
		},
		{
			Name:      "rm",
			Usage:     "delete sessions (their users are logged out)",
			ArgsUsage: "KEY...",
			Action:    rmAction,
		},
		{
			Name:  "gc",
			Usage: "delete expired sessions, exactly those Django's clear_expired deletes, and stale temp files",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only print what would be deleted"},
				&cli.BoolFlag{Name: "keep-temp", Usage: "do not remove leftover _out_ temp files older than a minute"},
			},
			Action: gcAction,
		},
		{
			Name:  "verify",
			Usage: "decode every session; list bad signatures and corrupt files (exit 0 all good, 2 bad signatures, 3 corrupt)",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "one JSON object per problem"},
			},
			Action: verifyAction,
		},
	}
	return cmds
}

// lsRecord is one line of `ls --json`. The field set is documented in the
// README and stable: add fields, never rename them.
type lsRecord struct {
	Key        string  `json:"key"`
	Size       *int64  `json:"size"`     // pretty JSON length; null when invalid
	RawSize    int64   `json:"raw_size"` // backing file size
	Modified   string  `json:"modified"` // RFC3339, UTC
	Expires    *string `json:"expires"`  // RFC3339, UTC; null: never (or invalid)
	Expired    bool    `json:"expired"`  // Django's load() would discard it now
	UserID     *string `json:"user_id"`
	Format     *string `json:"format"` // signed, legacy, md5; null: empty placeholder or invalid
	Serializer *string `json:"serializer"`
	KeyUsed    *string `json:"key_used"` // "current" or "fallback N"
	Error      string  `json:"error,omitempty"`
}

func strPtr(s string) *string { return &s }

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// newLsRecord describes an entry; now decides "expired" the way gc does.
func newLsRecord(e store.Entry, expired bool) lsRecord {
	r := lsRecord{Key: e.Key, RawSize: e.RawSize, Modified: rfc3339(e.ModTime), Expired: expired}
	if e.Err != nil {
		r.Error = e.Err.Error()
		return r
	}
	size := e.Size
	r.Size = &size
	if !e.Expiry.IsZero() {
		r.Expires = strPtr(rfc3339(e.Expiry))
	}
	if e.UserID != "" {
		r.UserID = strPtr(e.UserID)
	}
	if !e.Empty {
		r.Format = strPtr(e.Info.Format.String())
		r.Serializer = strPtr(e.Info.Serializer.String())
		r.KeyUsed = strPtr(e.Info.KeyName())
	}
	return r
}

func lsAction(c *cli.Context) error {
	st, err := newStore(c)
	if err != nil {
		return err
	}
	filter, err := lsFilter(c)
	if err != nil {
		return err
	}
	less, err := lsOrder(c.String("sort"))
	if err != nil {
		return err
	}
	progress := newProgress(c.App.ErrWriter, "listing")
	defer progress.done()
	now := time.Now()
	var show func(store.Entry) error
	var flush func() error
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetEscapeHTML(false)
		show = func(e store.Entry) error {
			if err := enc.Encode(newLsRecord(e, st.Expired(e, now))); err != nil {
				return fmt.Errorf("writing listing: %w", err)
			}
			return nil
		}
		flush = func() error { return nil }
	} else {
		tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tSIZE\tMODIFIED\tEXPIRES\tUSER\tNOTE")
		show = func(e store.Entry) error {
			_, err := fmt.Fprintln(tw, lsRow(e, st.Expired(e, now)))
			return err
		}
		flush = tw.Flush
	}
	var sorted []store.Entry
	err = st.Scan(c.Context, func(e store.Entry) error {
		progress.tick()
		if !filter.Match(e, st.Expired(e, now), now) {
			return nil
		}
		if less != nil {
			sorted = append(sorted, e)
			return nil
		}
		return show(e)
	})
	if err == nil && less != nil {
		sort.SliceStable(sorted, func(i, j int) bool { return less(sorted[i], sorted[j]) })
		for _, e := range sorted {
			if err = show(e); err != nil {
				break
			}
		}
	}
	if flushErr := flush(); err == nil {
		err = flushErr
	}
	return err
}

// lsRow is one line of the human table, tab separated.
func lsRow(e store.Entry, expired bool) string {
	modified := e.ModTime.Local().Format(time.DateTime)
	if e.Err != nil {
		note := "invalid: " + problemKind(e.Err)
		if expired {
			note += ", expired"
		}
		return fmt.Sprintf("%s\t-\t%s\t-\t-\t%s", e.Key, modified, note)
	}
	expires := "never"
	if e.Expiry.Equal(store.AlwaysExpired) {
		expires = "always"
	} else if !e.Expiry.IsZero() {
		expires = e.Expiry.Local().Format(time.DateTime)
	}
	user := tableText(e.UserID)
	if user == "" {
		user = "-"
	}
	var note string
	switch {
	case e.Empty:
		note = "empty"
	case expired:
		note = "expired"
	case e.Info.KeyIndex > 0:
		note = e.Info.KeyName()
	}
	return fmt.Sprintf("%s\t%d\t%s\t%s\t%s\t%s", e.Key, e.Size, modified, expires, user, note)
}

// tableText keeps a value on one table cell: text with spaces, control or
// non-printable characters is shown Go-quoted.
func tableText(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return strconv.Quote(s)
		}
	}
	return s
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
	st, err := newStore(c)
	if err != nil {
		return err
	}
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

func putAction(c *cli.Context) error {
	key, err := singleKey(c)
	if err != nil {
		return err
	}
	st, log, err := openStoreAudited(c)
	if err != nil {
		return err
	}
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

func rmAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageErrorf("rm needs at least one session KEY")
	}
	st, log, err := openStoreAudited(c)
	if err != nil {
		return err
	}
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

func gcAction(c *cli.Context) error {
	st, log, err := openStoreAudited(c)
	if err != nil {
		return err
	}
	defer log.Close()
	dryRun := c.Bool("dry-run")
	progress := newProgress(c.App.ErrWriter, "scanning")
	res, err := change.ClearExpired(c.Context, st, store.ClearOptions{DryRun: dryRun, KeepLeftovers: c.Bool("keep-temp")},
		cliAudit(log), func(store.Entry) { progress.tick() })
	progress.done()
	for _, key := range res.Removed {
		fmt.Fprintln(c.App.Writer, key)
	}
	for _, name := range res.Leftovers {
		fmt.Fprintln(c.App.Writer, name)
	}
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

// problemKind names what is wrong with an undecodable file, as verify
// reports it.
func problemKind(err error) string { return store.Problem(err) }

// verifyRecord is one line of `verify --json`: one per problem.
type verifyRecord struct {
	Key     string `json:"key"`
	Problem string `json:"problem"` // bad-signature, corrupt, not-regular, too-large
	Error   string `json:"error"`
}

func verifyAction(c *cli.Context) error {
	st, err := newStore(c)
	if err != nil {
		return err
	}
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
		kind := problemKind(e.Err)
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

// progress shows a counter on stderr during long scans, only when stderr is
// a terminal (never in pipes, logs or tests).
type progress struct {
	w     io.Writer
	label string
	on    bool
	n     int
	last  time.Time
}

func newProgress(w io.Writer, label string) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, label: label, on: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) tick() {
	p.n++
	if !p.on || p.n%1000 != 0 {
		return
	}
	if now := time.Now(); now.Sub(p.last) > 200*time.Millisecond {
		p.last = now
		fmt.Fprintf(p.w, "\r%s: %d sessions", p.label, p.n)
	}
}

func (p *progress) done() {
	if p.on && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K") // erase the counter line
	}
}
