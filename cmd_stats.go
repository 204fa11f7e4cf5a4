package main

// `sessionfs stats`: the figures store.Stats counts (the mount's
// .stats.json), printed as text or JSON.

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/store"
)

// statsCommand is `sessionfs stats`.
func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "count sessions, logged-in users, expired, invalid, temp files, formats and keys in use (the mount's .stats.json)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "one JSON object (fields: see README)"},
		},
		Action: statsAction,
	}
}

func statsAction(c *cli.Context) error {
	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer st.Close()
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
	return writeStats(c.App.Writer, stats, st.Describe())
}

// writeStats prints the human form of Stats of the store d describes.
func writeStats(w io.Writer, s store.Stats, d store.Description) error {
	expired := "sessionfs gc removes them"
	if d.Backend == "cache" {
		expired = "the cache server drops a session when its TTL ends"
	}
	lines := []string{
		fmt.Sprintf("sessions      %d live (%d empty)", s.Sessions, s.Empty),
		fmt.Sprintf("logged in     %d sessions of %d users", s.LoggedIn, s.LoggedInUsers),
		fmt.Sprintf("expired       %d (%s)", s.Expired, expired),
		fmt.Sprintf("invalid       %d%s", s.Invalid, parenthesized(counts(s.Problems))),
		fmt.Sprintf("temp files    %d (%d bytes)", s.TempFiles, s.TempBytes),
		fmt.Sprintf("bytes         %d", s.Bytes),
		fmt.Sprintf("formats       %s", orNone(counts(s.Formats))),
		fmt.Sprintf("serializers   %s", orNone(counts(s.Serializers))),
		fmt.Sprintf("keys          %s", orNone(counts(s.Keys))),
	}
	if s.CacheDiffers != nil {
		lines = append(lines, fmt.Sprintf("cache differs %d (cache copies Django serves instead of their rows; sessionfs verify lists them)", *s.CacheDiffers))
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
