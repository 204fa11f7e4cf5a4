package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
)

// gcRows: row 7, `sessionfs gc` against Django 3.2's clear_expired, each on
// its own identical copy of sessions half expired by mtime; both must leave
// the same files. `gc --dry-run` on a third copy is context.
func (b *bench) gcRows() ([]row, error) {
	p, err := b.populate(b.path("gc"), b.sz.gc, true, false)
	if err != nil {
		return nil, err
	}
	djangoDir, gcDir := b.path("gc-django"), b.path("gc-sessionfs")
	for _, d := range []string{djangoDir, gcDir} {
		if err := copyDir(p.dir, d); err != nil {
			return nil, err
		}
	}
	// Both contenders delete tens of thousands of files: each starts with
	// the copies written back, not behind the other's (or the copy's)
	// writeback, which swung gc from 3 s to 10 s between runs.
	settle := func() { syscall.Sync() }
	settle()
	progress("Django clear_expired")
	var res harness.BenchResult
	if err := b.dj.Run(context.Background(), b.settings(djangoDir), harness.OpBenchClearExpired, nil, &res); err != nil {
		return nil, err
	}
	django := seconds(res.Seconds)
	settle()
	progress("sessionfs gc")
	gc, gcRSS, err := b.runCLI("gc", "--session-file-path", gcDir, "--secret-key-file", b.keyFile, "--keep-temp")
	if err != nil {
		return nil, err
	}
	if err := sameNames(djangoDir, gcDir, len(p.keys)-p.expired); err != nil {
		return nil, err
	}
	progress("sessionfs gc --dry-run")
	dry, dryRSS, err := b.runCLI("gc", "--dry-run", "--session-file-path", p.dir, "--secret-key-file", b.keyFile, "--keep-temp")
	if err != nil {
		return nil, err
	}
	floor, err := b.unlinkFloor(p.dir, gcDir, settle)
	if err != nil {
		return nil, err
	}
	readFloor, err := b.readUnlinkFloor(p.dir, gcDir, settle)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("gc of %d sessions, %d expired", len(p.keys), p.expired)
	return []row{
		{id: "7a", what: what, ours: gc, other: "Django 3.2 clear_expired()", theirs: django, rss: gcRSS},
		{id: "7b", what: what + ", --dry-run", ours: dry, other: "Django 3.2 clear_expired()", theirs: django, rss: dryRSS},
		{id: "7c", what: what, ours: gc, other: "unlink of the expired files alone", theirs: floor, target: atMostSlower(1.1), rss: gcRSS},
		{id: "7d", what: what, ours: gc, other: "read of every file (all cores) + those unlinks", theirs: readFloor, rss: gcRSS},
	}, nil
}

// unlinkFloor times removing, from a fresh copy of base, exactly the files
// gc removed from gcDir, with nothing read or decoded: what deleting costs
// on this file system, which both gc and Django pay.
func (b *bench) unlinkFloor(base, gcDir string, settle func()) (time.Duration, error) {
	all, err := names(base)
	if err != nil {
		return 0, err
	}
	kept, err := names(gcDir)
	if err != nil {
		return 0, err
	}
	dir := b.path("gc-unlink")
	if err := copyDir(base, dir); err != nil {
		return 0, err
	}
	settle()
	progress("unlink floor")
	start := time.Now()
	for name := range all {
		if kept[name] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// sameNames checks that Django and gc left the same files, and how many.
func sameNames(djangoDir, gcDir string, want int) error {
	kept, err := names(djangoDir)
	if err != nil {
		return err
	}
	ours, err := names(gcDir)
	if err != nil {
		return err
	}
	if len(kept) != want || len(ours) != want {
		return fmt.Errorf("survivors: Django %d, gc %d, want %d", len(kept), len(ours), want)
	}
	for name := range kept {
		if !ours[name] {
			return fmt.Errorf("%s kept by Django, removed by gc", name)
		}
	}
	return nil
}
