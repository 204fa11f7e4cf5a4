package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
)

// catAll reads every file of a directory in one xargs'd cat, as a script
// that dumps every session would.
func catAll(dir string) string {
	return fmt.Sprintf("cd %q && find . -maxdepth 1 -type f -print0 | xargs -0 cat > /dev/null", dir)
}

// catRows: row 5, reading every session through the mount against a raw cat
// of the backing files and Django's decode loop (targets), and as context
// Django's load loop and go-fuse's loopback example (the FUSE floor).
func (b *bench) catRows() ([]row, error) {
	p, err := b.populate(b.path("cat"), b.sz.cat, false, true)
	if err != nil {
		return nil, err
	}
	progress("raw cat of the backing files")
	if _, err := timeShell(1, catAll(p.dir)); err != nil { // page cache warm for all
		return nil, err
	}
	raw, err := timeShell(b.rounds, catAll(p.dir))
	if err != nil {
		return nil, err
	}
	rendered := b.path("cat-rendered") // what the mount shows, for the in-memory floor
	if err := writeRendered(p, rendered); err != nil {
		return nil, err
	}
	ours, err := b.catMount(p.dir, func(mnt string) error { return sameFiles(rendered, mnt, 100) })
	if err != nil {
		return nil, err
	}
	progress("Django decode loop")
	decode, err := b.djangoDecode(p.texts)
	if err != nil {
		return nil, err
	}
	load, err := b.djangoLoad(p)
	if err != nil {
		return nil, err
	}
	loop, err := b.catLoopback(p.dir)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("cat %d sessions through the mount", len(p.keys))
	floors, err := b.memfsCatRows(what, ours, rendered)
	if err != nil {
		return nil, err
	}
	return append([]row{
		{id: "5a", what: what, ours: ours.first, other: "raw cat of the backing files", theirs: raw, target: atMostSlower(3), rss: ours.rss},
		{id: "5b", what: what, ours: ours.first, other: "Django 3.2 decode() loop", theirs: decode, target: faster, rss: ours.rss},
		{id: "5c", what: what, ours: ours.first, other: "Django 3.2 load() loop", theirs: load, rss: ours.rss},
		{id: "5d", what: what, ours: ours.first, other: "go-fuse loopback cat", theirs: loop, rss: ours.rss},
	}, floors...), nil
}

// catTimes are the mount's two kinds of cat: the first of every session
// after a listing (each read decodes and fills the page cache) and a
// repeated one (served from the page cache, names still cached).
type catTimes struct {
	first, again time.Duration
	rss          int64
}

// catMount reads every session through a fresh mount after one listing,
// twice, each round on a mount of its own so that every first cat is one,
// then checks what the last mount shows with check.
func (b *bench) catMount(backing string, check func(mnt string) error) (catTimes, error) {
	progress("cat through the mount, first and again")
	var t catTimes
	for i := 0; i < b.rounds; i++ {
		m, err := b.mountSessionfs(backing, b.path("mnt-cat"))
		if err != nil {
			return t, err
		}
		first, err := timeListThenCat(1, m.dir)
		var again time.Duration
		if err == nil {
			again, err = timeShell(1, catAll(m.dir))
		}
		var rss int64
		if err == nil {
			rss, err = m.peakRSS()
		}
		if err == nil && i == b.rounds-1 {
			err = check(m.dir)
		}
		if stopErr := m.stop(); err == nil {
			err = stopErr
		}
		if err != nil {
			return t, err
		}
		if i == 0 || first < t.first {
			t.first = first
		}
		if i == 0 || again < t.again {
			t.again = again
		}
		t.rss = max(t.rss, rss)
	}
	return t, nil
}

func timeListThenCat(rounds int, dir string) (time.Duration, error) {
	if _, err := timeShell(1, fmt.Sprintf("ls -l %q > /dev/null", dir)); err != nil {
		return 0, err
	}
	return timeShell(rounds, catAll(dir))
}

// djangoLoad is Django 3.2's SessionStore(key).load() loop over the backing
// directory: what a view pays to read each session from its file.
func (b *bench) djangoLoad(p *population) (time.Duration, error) {
	progress("Django load loop")
	var res harness.BenchResult
	req := harness.BenchLoadRequest{Keys: p.keys, Rounds: b.rounds}
	if err := b.dj.Run(context.Background(), b.settings(p.dir), harness.OpBenchLoad, req, &res); err != nil {
		return 0, err
	}
	if res.Failures != 0 || res.N != len(p.keys) {
		return 0, fmt.Errorf("Django failed to load %d of %d sessions", res.Failures, res.N)
	}
	return seconds(res.Seconds), nil
}

// catLoopback is the same listing and cat through go-fuse's loopback
// example over the backing directory: what any go-fuse file system costs
// here, with no decoding at all.
func (b *bench) catLoopback(backing string) (time.Duration, error) {
	mnt, stop, err := b.mountLoopback(backing)
	if err != nil {
		return 0, err
	}
	d, err := timeListThenCat(b.rounds, mnt)
	if stopErr := stop(); err == nil {
		err = stopErr
	}
	return d, err
}

// mountLoopback builds go-fuse's loopback example (once) and mounts it over
// backing.
func (b *bench) mountLoopback(backing string) (mnt string, stop func() error, err error) {
	bin := filepath.Join(b.work, "loopback") // built once, kept across sections
	if _, err := os.Stat(bin); err != nil {
		progress("building go-fuse's loopback example")
		root, err := harness.ModuleRoot()
		if err != nil {
			return "", nil, err
		}
		build := exec.Command("go", "build", "-o", bin, "github.com/hanwen/go-fuse/v2/example/loopback")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return "", nil, fmt.Errorf("building the loopback example: %w\n%s", err, out)
		}
	}
	abs, err := filepath.Abs(backing)
	if err != nil {
		return "", nil, err
	}
	mnt = b.path("mnt-loopback-" + filepath.Base(backing))
	s, err := b.startServer([]string{bin, mnt, abs}, "Mounted!", mnt, []string{"fusermount3", "-u", mnt})
	if err != nil {
		return "", nil, err
	}
	return mnt, s.stop, nil
}
