package main

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// cacheConfigs are the kernel-cache settings whose FUSE request counts
// -requests compares (how the mount's defaults were chosen).
var cacheConfigs = []struct {
	name string
	args []string
}{
	{"0 s timeouts, no readdirplus", []string{"--cache-timeout", "0", "--readdirplus=false"}},
	{"0 s timeouts + readdirplus", []string{"--cache-timeout", "0", "--readdirplus"}},
	{"10 ms timeouts, no readdirplus", []string{"--cache-timeout", "10ms", "--readdirplus=false"}},
	{"10 ms timeouts + readdirplus (default)", []string{"--cache-timeout", "10ms", "--readdirplus"}},
	{"1 s timeouts + readdirplus", []string{"--cache-timeout", "1s", "--readdirplus"}},
}

var rxRE = regexp.MustCompile(`rx \d+: ([A-Z_]+)`)

// requestCounts prints, for each cache setting, the FUSE requests of two
// `ls -l` in a row over n sessions, counted in go-fuse's debug log.
func (b *bench) requestCounts(w io.Writer, n int) error {
	p, err := b.populate(b.path("requests"), n, false, false)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nFUSE requests per `ls -l` of %d sessions (two in a row, go-fuse debug log):\n", n)
	for i, cfg := range cacheConfigs {
		progress("request counts: %s", cfg.name)
		m, err := b.mountSessionfs(p.dir, b.path(fmt.Sprintf("mnt-requests-%d", i)), append([]string{"--debug"}, cfg.args...)...)
		if err != nil {
			return err
		}
		var lines []string
		seen := len(m.stderr())
		for round := 1; round <= 2 && err == nil; round++ {
			if _, err = timeShell(1, fmt.Sprintf("ls -l %q > /dev/null", m.dir)); err == nil {
				log := m.stderr()
				lines = append(lines, fmt.Sprintf("    ls -l #%d: %s", round, countOps(log[seen:])))
				seen = len(log)
			}
		}
		if stopErr := m.stop(); err == nil {
			err = stopErr
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s\n%s\n", cfg.name, strings.Join(lines, "\n"))
	}
	return nil
}

// countOps sums the requests of a debug log by opcode.
func countOps(log string) string {
	counts := map[string]int{}
	for _, m := range rxRE.FindAllStringSubmatch(log, -1) {
		counts[m[1]]++
	}
	var ops []string
	total := 0
	for op, c := range counts {
		ops = append(ops, fmt.Sprintf("%s %d", op, c))
		total += c
	}
	sort.Strings(ops)
	return fmt.Sprintf("%d total (%s)", total, strings.Join(ops, ", "))
}
