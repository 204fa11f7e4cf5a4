package main

// Operator commands: stats, revoke, rekey, and ls's filters and orders.
// The logic is in store (Stats, RevokeUser, Rekey, Filter), where the
// mount uses it too; this file only parses flags and prints.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
)

func opsCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:  "stats",
			Usage: "count sessions, logged-in users, expired, invalid, temp files, formats and keys in use (the mount's .stats.json)",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "json", Usage: "one JSON object (fields: see README)"},
			},
			Action: statsAction,
		},
		{
			Name:  "revoke",
			Usage: "log a user out everywhere: delete every session of that user id, expired or not",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "user", Required: true, Usage: "the user `ID` (_auth_user_id)"},
				&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only print what would be deleted"},
			},
			Action: revokeAction,
		},
		{
			Name: "rekey",
			Usage: "re-sign every live session that verifies only with a fallback key, or is stored in another format, " +
				"serializer or algorithm than --format/--serializer/--algorithm, with SECRET_KEY; content and mtimes unchanged",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only print what would be re-signed"},
			},
			Action: rekeyAction,
		},
	}
}

// --- ls filters and orders ---

// lsFilter reads ls's selection flags.
func lsFilter(c *cli.Context) (store.Filter, error) {
	f := store.Filter{UserID: c.String("user"), Expired: c.Bool("expired"), Invalid: c.Bool("invalid")}
	if s := c.String("older-than"); s != "" {
		d, err := parseAge(s)
		if err != nil {
			return f, usageErrorf("--older-than: %v", err)
		}
		f.OlderThan = d
	}
	return f, nil
}

// parseAge is a Go duration with days allowed in front: 7d, 1d12h, 36h, 90m.
func parseAge(s string) (time.Duration, error) {
	var days time.Duration
	if before, after, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseUint(before, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q (want 90m, 36h, 7d or 1d12h)", s)
		}
		days, s = time.Duration(n)*24*time.Hour, after
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q (want 90m, 36h, 7d or 1d12h)", s)
	}
	return days + d, nil
}

// lsOrder returns the "sorts before" of --sort, nil for directory order.
// Ties go by key, so the output is deterministic.
func lsOrder(field string) (func(a, b store.Entry) bool, error) {
	var order func(a, b store.Entry) int
	switch field {
	case "":
		return nil, nil
	case "key":
		order = func(a, b store.Entry) int { return 0 }
	case "modified":
		order = func(a, b store.Entry) int { return a.ModTime.Compare(b.ModTime) }
	case "expires":
		order = func(a, b store.Entry) int { return compareExpiry(a, b) }
	case "size":
		order = func(a, b store.Entry) int { return cmp.Compare(b.RawSize, a.RawSize) }
	case "user":
		order = func(a, b store.Entry) int { return compareUser(a.UserID, b.UserID) }
	default:
		return nil, usageErrorf("--sort %q: want key, modified, expires, size or user", field)
	}
	return func(a, b store.Entry) bool {
		if c := order(a, b); c != 0 {
			return c < 0
		}
		return a.Key < b.Key
	}, nil
}

// compareExpiry puts the soonest expiry first, then sessions that never
// expire, then invalid files.
func compareExpiry(a, b store.Entry) int {
	rank := func(e store.Entry) int {
		switch {
		case e.Err != nil:
			return 2
		case e.Expiry.IsZero():
			return 1
		}
		return 0
	}
	if c := cmp.Compare(rank(a), rank(b)); c != 0 || rank(a) != 0 {
		return c
	}
	return a.Expiry.Compare(b.Expiry)
}

// compareUser orders numeric user ids as numbers (2 before 10), then other
// ids as text, then sessions of no user.
func compareUser(a, b string) int {
	if (a == "") != (b == "") {
		if a == "" {
			return 1
		}
		return -1
	}
	na, errA := strconv.ParseUint(a, 10, 64)
	nb, errB := strconv.ParseUint(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return cmp.Compare(na, nb)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// --- stats ---

func statsAction(c *cli.Context) error {
	st, err := newStore(c)
	if err != nil {
		return err
	}
	progress := newProgress(c.App.ErrWriter, "counting")
	stats, err := st.Stats(c.Context, func(store.Entry) { progress.tick() })
	progress.done()
	if err != nil {
		return err
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetEscapeHTML(false)
		return enc.Encode(stats)
	}
	return writeStats(c.App.Writer, stats)
}

// writeStats prints the human form of Stats.
func writeStats(w io.Writer, s store.Stats) error {
	lines := []string{
		fmt.Sprintf("sessions      %d live (%d empty)", s.Sessions, s.Empty),
		fmt.Sprintf("logged in     %d sessions of %d users", s.LoggedIn, s.LoggedInUsers),
		fmt.Sprintf("expired       %d (sessionfs gc removes them)", s.Expired),
		fmt.Sprintf("invalid       %d%s", s.Invalid, parenthesized(counts(s.Problems))),
		fmt.Sprintf("temp files    %d (%d bytes)", s.TempFiles, s.TempBytes),
		fmt.Sprintf("bytes         %d", s.Bytes),
		fmt.Sprintf("formats       %s", orNone(counts(s.Formats))),
		fmt.Sprintf("serializers   %s", orNone(counts(s.Serializers))),
		fmt.Sprintf("keys          %s", orNone(counts(s.Keys))),
	}
	if n := s.FallbackOnly(); n > 0 {
		lines = append(lines, fmt.Sprintf("rotation      %d live sessions verify only with a fallback key (sessionfs rekey re-signs them)", n))
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

// counts renders a map of counts as "a 3, b 1", largest first.
func counts(m map[string]int) string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if m[names[i]] != m[names[j]] {
			return m[names[i]] > m[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s %d", name, m[name])
	}
	return strings.Join(parts, ", ")
}

func parenthesized(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// --- revoke ---

func revokeAction(c *cli.Context) error {
	user := c.String("user")
	if user == "" {
		return usageErrorf("revoke: --user must not be empty")
	}
	st, log, err := openStoreAudited(c)
	if err != nil {
		return err
	}
	defer log.Close()
	dryRun := c.Bool("dry-run")
	res, err := change.RevokeUser(c.Context, st, user, dryRun, cliAudit(log), func(r store.Removal) {
		fmt.Fprintln(c.App.Writer, r.Key)
	})
	if err != nil && !errors.Is(err, change.ErrNotLogged) {
		return err
	}
	logErr := err
	for _, f := range res.Failed {
		fmt.Fprintf(c.App.ErrWriter, "sessionfs: %v\n", f.Err)
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	fmt.Fprintf(c.App.ErrWriter, "sessionfs: %s %d sessions of user %s (%d found, %d failed)\n",
		verb, len(res.Removed), user, res.Found, len(res.Failed))
	if len(res.Failed) > 0 {
		return exitErr{code: exitError, msg: fmt.Sprintf("%d sessions of user %s were not removed", len(res.Failed), user)}
	}
	return logErr
}

// --- rekey ---

func rekeyAction(c *cli.Context) error {
	st, log, err := openStoreAudited(c)
	if err != nil {
		return err
	}
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
