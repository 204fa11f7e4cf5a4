package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// memoryRows: row 8, the mount's peak RSS after listing a large directory,
// names only (`ls`) and then with attributes (`ls -l`). The time ratios to
// the same listing of the backing directory are context; the target is the
// memory ceiling.
func (b *bench) memoryRows() ([]row, error) {
	p, err := b.populate(b.path("memory"), b.sz.memory, false, false)
	if err != nil {
		return nil, err
	}
	n := len(p.keys)
	names := func(dir string) string { return fmt.Sprintf("ls %q | wc -l", dir) }
	long := func(dir string) string { return fmt.Sprintf("ls -l %q > /dev/null", dir) }
	progress("ls and ls -l of the backing directory")
	if _, err := timeShell(1, long(p.dir)); err != nil { // caches warm, as for rows 3
		return nil, err
	}
	rawNames, err := countListing(names(p.dir), n)
	if err != nil {
		return nil, err
	}
	rawLong, err := timeShell(1, long(p.dir))
	if err != nil {
		return nil, err
	}
	progress("ls and ls -l through a fresh mount")
	m, err := b.mountSessionfs(p.dir, b.path("mnt-memory"))
	if err != nil {
		return nil, err
	}
	var namesRSS, longRSS int64
	ours, err := countListing(names(m.dir), n)
	if err == nil {
		namesRSS, err = m.peakRSS()
	}
	var oursLong time.Duration
	if err == nil {
		oursLong, err = timeShell(1, long(m.dir))
	}
	if err == nil {
		longRSS, err = m.peakRSS()
	}
	if stopErr := m.stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}
	return []row{
		{id: "8a", what: fmt.Sprintf("ls of %d sessions (names), fresh mount", n), ours: ours,
			other: "ls of the backing dir", theirs: rawNames, target: rssAtMost(150), rss: namesRSS},
		{id: "8b", what: fmt.Sprintf("then ls -l of the %d sessions", n), ours: oursLong,
			other: "ls -l of the backing dir", theirs: rawLong, target: rssAtMost(150), rss: longRSS},
	}, nil
}

// countListing times a listing piped to wc -l and checks it saw n names.
func countListing(script string, n int) (time.Duration, error) {
	out, d, err := shellOutput(script)
	if err != nil {
		return 0, err
	}
	got, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil || got != n {
		return 0, fmt.Errorf("%s: %q names, want %d", script, out, n)
	}
	return d, nil
}
