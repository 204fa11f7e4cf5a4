package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// row is one comparison: a sessionfs measurement against another one taken
// in the same run on the same data.
type row struct {
	id     string // stable label the report test looks for, e.g. "5a"
	what   string
	ours   time.Duration
	other  string // what it is compared with
	theirs time.Duration
	target *target // nil: a context row
	rss    int64   // sessionfs peak RSS in KiB; 0: not measured ("-")
}

// target is a row's goal and the test of it.
type target struct {
	text string
	met  func(r row) bool
}

// Targets phrased as the ratio column reads: "N× faster" or "N× slower".
func atLeastFaster(x float64) *target {
	return &target{fmt.Sprintf("≥ %g× faster", x), func(r row) bool { return speedup(r) >= x }}
}

func atMostSlower(x float64) *target {
	return &target{fmt.Sprintf("≤ %g× slower", x), func(r row) bool { return speedup(r) >= 1/x }}
}

var faster = &target{"faster", func(r row) bool { return speedup(r) > 1 }}

// rssAtMost is a memory ceiling; the time ratio of its row is context.
func rssAtMost(mib int64) *target {
	return &target{fmt.Sprintf("peak RSS ≤ %d MiB", mib), func(r row) bool { return r.rss > 0 && r.rss <= mib<<10 }}
}

// speedup is how many times faster sessionfs was (below 1: slower).
func speedup(r row) float64 { return float64(r.theirs) / float64(r.ours) }

func ratioText(r row) string {
	if s := speedup(r); s >= 1 {
		return fmt.Sprintf("%.2f× faster", s)
	}
	return fmt.Sprintf("%.2f× slower", 1/speedup(r))
}

// printTable writes the table and says whether a target was missed.
func printTable(w io.Writer, rows []row) (missed bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\twhat\tsessionfs\tcompared with\ttime\tratio\ttarget\tmet\tsessionfs peak RSS")
	for _, r := range rows {
		tgt, met := "-", "-"
		if r.target != nil {
			tgt, met = r.target.text, "yes"
			if !r.target.met(r) {
				met, missed = "NO", true
			}
		}
		rss := "-"
		if r.rss > 0 {
			rss = fmt.Sprintf("%.1f MiB", float64(r.rss)/1024)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.id, r.what, dur(r.ours), r.other, dur(r.theirs),
			ratioText(r), tgt, met, rss)
	}
	tw.Flush()
	fmt.Fprint(w, `
Times are wall times; repeatable measurements are the best of -rounds. Ratios compare the two
times of a row. Django's figures time its loop alone (time.perf_counter in djsession.py), without
starting Python. Peak RSS is the sessionfs process's: VmHWM of the mount process from
/proc/PID/status after the measurement, or GNU time's maximum RSS of a CLI child; "-" for the
decode loops, which run inside this program (GOMAXPROCS=1).
`)
	return missed
}

func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}
