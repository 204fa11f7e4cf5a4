package main

import (
	"fmt"
	"time"
)

// listRows: rows 3 and 4, `ls -l` through the mount (warm, and the first one
// after mounting) against `ls -l` of the backing directory.
func (b *bench) listRows() ([]row, error) {
	p, err := b.populate(b.path("list"), b.sz.list, false, true)
	if err != nil {
		return nil, err
	}
	raw, err := b.rawList(p.dir)
	if err != nil {
		return nil, err
	}
	first, firstRSS, warm, warmRSS, err := b.mountList(p.dir)
	if err != nil {
		return nil, err
	}
	floor, err := b.firstListFloor(p.dir)
	if err != nil {
		return nil, err
	}
	rendered := b.path("list-rendered")
	if err := writeRendered(p, rendered); err != nil {
		return nil, err
	}
	mem, err := b.memfsList(rendered)
	if err != nil {
		return nil, err
	}
	n := len(p.keys)
	return []row{
		{id: "3", what: fmt.Sprintf("ls -l of %d sessions, warm mount", n), ours: warm, other: "ls -l of the backing dir",
			theirs: raw, target: atMostSlower(2), rss: warmRSS},
		{id: "3b", what: fmt.Sprintf("ls -l of %d sessions, warm mount", n), ours: warm, other: "ls -l, " + memfsCached.String(),
			theirs: mem, rss: warmRSS},
		{id: "4", what: fmt.Sprintf("ls -l of %d sessions, first after mount", n), ours: first, other: "ls -l of the backing dir",
			theirs: raw, target: atMostSlower(5), rss: firstRSS},
		{id: "4b", what: fmt.Sprintf("ls -l of %d sessions, first after mount", n), ours: first,
			other: "ls -l of the backing dir + read of every file", theirs: floor, target: atMostSlower(1.2), rss: firstRSS},
	}, nil
}

// rawList is a warm `ls -l` of the backing directory: one untimed listing
// fills the dentry and inode caches, as the mount's warm listing has them.
func (b *bench) rawList(dir string) (time.Duration, error) {
	progress("ls -l of the backing directory")
	script := fmt.Sprintf("ls -l %q > /dev/null", dir)
	if _, err := timeShell(1, script); err != nil {
		return 0, err
	}
	return timeShell(b.rounds, script)
}

// mountList times the first `ls -l` of a fresh mount process (empty metadata
// cache: every session is read and decoded), then warm ones.
func (b *bench) mountList(backing string) (first time.Duration, firstRSS int64, warm time.Duration, warmRSS int64, err error) {
	progress("ls -l through a fresh mount")
	m, err := b.mountSessionfs(backing, b.path("mnt-list"))
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer func() {
		if stopErr := m.stop(); err == nil {
			err = stopErr
		}
	}()
	script := fmt.Sprintf("ls -l %q > /dev/null", m.dir)
	if first, err = timeShell(1, script); err != nil {
		return
	}
	if firstRSS, err = m.peakRSS(); err != nil {
		return
	}
	progress("warm ls -l through the mount")
	if warm, err = timeShell(b.rounds, script); err != nil {
		return
	}
	warmRSS, err = m.peakRSS()
	return
}
