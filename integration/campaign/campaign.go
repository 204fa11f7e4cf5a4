// Package campaign holds what the reliability campaigns share:
// their size (flags and the SESSIONFS_STRESS long form), a tally of what
// each campaign did and found, and the report file `make stress` prints as
// one table.
//
// A campaign runs in its short form by default (well under a minute on a
// loaded 2-core machine, so CI runs it), in its long form with
// SESSIONFS_STRESS=1, and in any size with -campaign.duration and
// -campaign.count.
package campaign

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	durationFlag = flag.Duration("campaign.duration", 0, "how long each time-bounded reliability campaign runs (0: its default; SESSIONFS_STRESS=1 for the long form)")
	countFlag    = flag.Int("campaign.count", 0, "how many rounds each count-bounded reliability campaign runs (0: its default; SESSIONFS_STRESS=1 for the long form)")
)

// Long reports whether the long form (make stress) was asked for.
func Long() bool { return os.Getenv("SESSIONFS_STRESS") == "1" }

// Duration is -campaign.duration when given, else long under SESSIONFS_STRESS=1, else short.
func Duration(short, long time.Duration) time.Duration {
	switch {
	case *durationFlag > 0:
		return *durationFlag
	case Long():
		return long
	}
	return short
}

// Count is -campaign.count when given, else long under SESSIONFS_STRESS=1, else short.
func Count(short, long int) int {
	switch {
	case *countFlag > 0:
		return *countFlag
	case Long():
		return long
	}
	return short
}

// Tally counts what a campaign did. Its methods are safe for concurrent use
// (writers, readers and checkers run in goroutines). When the test ends,
// pass or fail, the figures are logged and appended to the report.
type Tally struct {
	Name       string
	Operations atomic.Int64 // writes, reads, commands run
	Faults     atomic.Int64 // kills, plants, hostile inputs: faults injected
	Checked    atomic.Int64 // sessions (or cases) whose invariants were checked
	problems   atomic.Int64

	t       testing.TB
	mu      sync.Mutex
	samples []string
}

// Start begins the tally of campaign name (one word: it is a column of the
// report table).
func Start(t testing.TB, name string) *Tally {
	t.Helper()
	tl := &Tally{Name: name, t: t}
	t.Cleanup(tl.finish)
	return tl
}

// Problem records a violated invariant and fails the test. Safe from
// goroutines (it uses t.Errorf, never t.Fatalf).
func (tl *Tally) Problem(format string, args ...any) {
	n := tl.problems.Add(1)
	msg := fmt.Sprintf(format, args...)
	if n <= 50 {
		tl.t.Errorf("%s: problem: %s", tl.Name, msg)
	} else if n == 51 {
		tl.t.Errorf("%s: more problems, not shown", tl.Name)
	}
	tl.mu.Lock()
	if len(tl.samples) < 5 {
		tl.samples = append(tl.samples, msg)
	}
	tl.mu.Unlock()
}

// Problems is the number of problems so far.
func (tl *Tally) Problems() int64 { return tl.problems.Load() }

// Row is one line of the report.
type Row struct {
	Campaign   string
	Operations int64
	Faults     int64
	Checked    int64
	Problems   int64
	Passed     bool // the test passed (a skipped or failed run is not a zero-problem run)
}

// Header is the report's first line (columns separated by tabs).
const Header = "campaign\toperations\tfaults\tchecked\tproblems\tresult"

func (r Row) line() string {
	res := "ok"
	if !r.Passed {
		res = "FAIL"
	}
	return fmt.Sprintf("%s\t%d\t%d\t%d\t%d\t%s", r.Campaign, r.Operations, r.Faults, r.Checked, r.Problems, res)
}

// ParseRow reads a line written by Append.
func ParseRow(line string) (Row, error) {
	f := strings.Split(line, "\t")
	if len(f) != 6 {
		return Row{}, fmt.Errorf("report line %q: want 6 tab-separated fields", line)
	}
	var r Row
	r.Campaign = f[0]
	for i, p := range []*int64{&r.Operations, &r.Faults, &r.Checked, &r.Problems} {
		if _, err := fmt.Sscan(f[i+1], p); err != nil {
			return Row{}, fmt.Errorf("report line %q, field %d: %w", line, i+2, err)
		}
	}
	r.Passed = f[5] == "ok"
	return r, nil
}

func (tl *Tally) finish() {
	if tl.t.Skipped() {
		return
	}
	r := Row{Campaign: tl.Name, Operations: tl.Operations.Load(), Faults: tl.Faults.Load(),
		Checked: tl.Checked.Load(), Problems: tl.problems.Load(), Passed: !tl.t.Failed()}
	tl.t.Logf("campaign %s: %d operations, %d faults injected, %d checked, %d problems", r.Campaign, r.Operations, r.Faults, r.Checked, r.Problems)
	if err := Append(os.Getenv("SESSIONFS_STRESS_REPORT"), r); err != nil {
		tl.t.Errorf("campaign report: %v", err)
	}
}

var reportMu sync.Mutex

// Append adds r to the report file (env SESSIONFS_STRESS_REPORT); nothing
// when path is "". One write per line on an O_APPEND descriptor, so test
// binaries of several packages can share the file.
func Append(path string, r Row) error {
	if path == "" {
		return nil
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("opening report %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.WriteString(r.line() + "\n"); err != nil {
		return fmt.Errorf("appending to report %s: %w", path, err)
	}
	return nil
}
