package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/store"
)

// lsCommand is `sessionfs ls`.
func lsCommand() *cli.Command {
	return &cli.Command{
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
	}
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
	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer st.Close()
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
		note := "invalid: " + store.Problem(e.Err)
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
