package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// Floors of the mount rows: what any FUSE file system over these sessions
// must at least do, measured in the same run on the same files.

// firstListFloor is what the first `ls -l` after mounting cannot avoid: the
// listing of the backing directory, and a read of every backing file (each
// session's size is its decoded rendering's, so every file is read once),
// on all cores. The reads are this program's (open, read into a kept
// buffer, close): cat(1) maps and unmaps a buffer per file, which costs
// more than the read. One untimed run warms the caches, as for rawList.
func (b *bench) firstListFloor(dir string) (time.Duration, error) {
	progress("ls -l of the backing directory + read of every file")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	list := fmt.Sprintf("ls -l %q > /dev/null", dir)
	once := func() error {
		if err := exec.Command("bash", "-c", list).Run(); err != nil {
			return fmt.Errorf("%s: %w", list, err)
		}
		return readAll(dir, entries)
	}
	if err := once(); err != nil {
		return 0, err
	}
	return best(b.rounds, once)
}

// readAll reads every file of entries on all cores.
func readAll(dir string, entries []os.DirEntry) error {
	workers := runtime.NumCPU()
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for i := w; i < len(entries) && errs[w] == nil; i += workers {
				errs[w] = readFile(filepath.Join(dir, entries[i].Name()), buf)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func readFile(path string, buf []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		if _, err := f.Read(buf); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// writeRendered writes every session as the mount shows it (KEY.json,
// codec.Pretty) into dir: what the in-memory floor serves.
func writeRendered(p *population, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i, data := range p.data {
		pretty, err := codec.Pretty(data)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, p.keys[i]+".json"), pretty, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// memfsList times a warm `ls -l` of the in-memory floor serving the
// rendered sessions in src, with names and attributes cached for an hour:
// what a listing costs through FUSE when every request but the directory
// reads is saved.
func (b *bench) memfsList(src string) (time.Duration, error) {
	progress("ls -l of the in-memory go-fuse fs")
	m, err := b.mountMemfs(src, memfsCached)
	if err != nil {
		return 0, err
	}
	script := fmt.Sprintf("ls -l %q > /dev/null", m.dir)
	_, err = timeShell(1, script)
	var d time.Duration
	if err == nil {
		d, err = timeShell(b.rounds, script)
	}
	if stopErr := m.stop(); err == nil {
		err = stopErr
	}
	return d, err
}

// memfsCat times the mount's `cat` workload (one `ls -l`, then cats of
// every file) on the in-memory floor. The first cat is untimed, so that in
// the cached mode every timed cat is a second one, served from the page
// cache with the names still cached.
func (b *bench) memfsCat(src string, mode memfsMode) (time.Duration, error) {
	progress("cat through the %s", mode)
	m, err := b.mountMemfs(src, mode)
	if err != nil {
		return 0, err
	}
	err = sameFiles(src, m.dir, 100)
	if err == nil {
		_, err = timeListThenCat(1, m.dir)
	}
	var d time.Duration
	if err == nil {
		d, err = timeShell(b.rounds, catAll(m.dir))
	}
	if stopErr := m.stop(); err == nil {
		err = stopErr
	}
	return d, err
}

// memfsCatRows: the mount's first cat against the uncached in-memory floor
// and its repeated cat against the cached one. src must hold what the mount
// showed (checked by the caller).
func (b *bench) memfsCatRows(what string, ours catTimes, src string) ([]row, error) {
	uncached, err := b.memfsCat(src, memfsUncached)
	if err != nil {
		return nil, err
	}
	cached, err := b.memfsCat(src, memfsCached)
	if err != nil {
		return nil, err
	}
	return []row{
		{id: "5e", what: what, ours: ours.first, other: memfsUncached.String(), theirs: uncached, target: atMostSlower(1.1), rss: ours.rss},
		{id: "5f", what: what + ", again", ours: ours.again, other: memfsCached.String() + ", 2nd cat", theirs: cached, target: atMostSlower(1.3), rss: ours.rss},
	}, nil
}
