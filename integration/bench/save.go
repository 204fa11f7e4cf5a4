package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
)

// saveRows: row 6, saving edited sessions through a --no-fsync mount against
// Django's save() loop (Django's file backend never fsyncs), then through a
// default mount, whose fsyncs are the cost shown. Each contender changes
// its own copy of the same sessions, and Django must load every edit back.
func (b *bench) saveRows() ([]row, error) {
	p, err := b.populate(b.path("save"), b.sz.save, false, true)
	if err != nil {
		return nil, err
	}
	edited, scratch, err := b.prepareEdits(p)
	if err != nil {
		return nil, err
	}
	copies := map[string]string{}
	for _, name := range []string{"django", "nofsync", "fsync", "loopback", "loopback-rename"} {
		copies[name] = b.path("save-" + name)
		if err := copyDir(p.dir, copies[name]); err != nil {
			return nil, err
		}
	}
	django, err := b.djangoSave(copies["django"], p.keys, edited)
	if err != nil {
		return nil, err
	}
	noFsync, noFsyncRSS, err := b.saveThroughMount(copies["nofsync"], scratch, p.keys, edited, "--no-fsync")
	if err != nil {
		return nil, err
	}
	fsync, fsyncRSS, err := b.saveThroughMount(copies["fsync"], scratch, p.keys, edited)
	if err != nil {
		return nil, err
	}
	loopback, err := b.saveThroughLoopback(copies["loopback"], scratch, p.keys)
	if err != nil {
		return nil, err
	}
	loopbackRename, err := b.saveThroughLoopbackRename(copies["loopback-rename"], scratch, p.keys)
	if err != nil {
		return nil, err
	}
	n := len(p.keys)
	return []row{
		{id: "6a", what: fmt.Sprintf("save %d edited sessions, --no-fsync mount", n), ours: noFsync,
			other: "Django 3.2 save() loop", theirs: django, rss: noFsyncRSS},
		{id: "6b", what: fmt.Sprintf("save %d edited sessions, mount with fsync", n), ours: fsync,
			other: "the same, --no-fsync mount", theirs: noFsync, rss: fsyncRSS},
		{id: "6c", what: fmt.Sprintf("save %d edited sessions, --no-fsync mount", n), ours: noFsync,
			other: "go-fuse loopback, same copies", theirs: loopback, target: atMostSlower(1.1), rss: noFsyncRSS},
		{id: "6d", what: fmt.Sprintf("save %d edited sessions, --no-fsync mount", n), ours: noFsync,
			other: "go-fuse loopback, temp file + rename", theirs: loopbackRename, rss: noFsyncRSS},
	}, nil
}

// prepareEdits changes one member of every session (its language, to a
// value unique to the session, so a save landing on the wrong file shows)
// and writes each as the mount shows it, pretty JSON, to scratch/KEY.json.
func (b *bench) prepareEdits(p *population) ([]json.RawMessage, string, error) {
	const old = `"en-us"}`
	scratch := b.path("save-edits")
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return nil, "", err
	}
	edited := make([]json.RawMessage, len(p.keys))
	for i, data := range p.data {
		if string(data[len(data)-len(old):]) != old {
			return nil, "", fmt.Errorf("session %d does not end with the language: %s", i, data)
		}
		edited[i] = fmt.Appendf(append([]byte(nil), data[:len(data)-len(old)]...), `"edit-%d"}`, i)
		pretty, err := codec.Pretty(edited[i])
		if err != nil {
			return nil, "", err
		}
		if err := os.WriteFile(filepath.Join(scratch, p.keys[i]+".json"), pretty, 0o600); err != nil {
			return nil, "", err
		}
	}
	return edited, scratch, nil
}

// djangoSave is Django's SessionStore(session_key=k) with the data, then
// save(), for every session: loop-only timing.
func (b *bench) djangoSave(dir string, keys []string, edited []json.RawMessage) (time.Duration, error) {
	progress("Django save loop")
	req := harness.BenchSaveRequest{Sessions: make([]harness.SaveItem, len(keys))}
	for i, k := range keys {
		req.Sessions[i] = harness.SaveItem{Key: k, Data: edited[i]}
	}
	var res harness.BenchResult
	if err := b.dj.Run(context.Background(), b.settings(dir), harness.OpBenchSave, req, &res); err != nil {
		return 0, err
	}
	if err := b.djangoLoadsEdits(dir, keys, edited); err != nil {
		return 0, fmt.Errorf("after Django's own saves: %w", err)
	}
	return seconds(res.Seconds), nil
}

// saveThroughMount copies every edited file onto its KEY.json in a fresh
// mount (copyEach), checks that Django loads the edits, and returns
// the copying time and the mount's peak RSS.
func (b *bench) saveThroughMount(backing, scratch string, keys []string, edited []json.RawMessage, args ...string) (time.Duration, int64, error) {
	progress("saving through a mount %v", args)
	m, err := b.mountSessionfs(backing, b.path("mnt-"+filepath.Base(backing)), args...)
	if err != nil {
		return 0, 0, err
	}
	elapsed, err := copyEach(scratch, m.dir, keys, func(k string) string { return k + ".json" })
	var rss int64
	if err == nil {
		rss, err = m.peakRSS()
	}
	if stopErr := m.stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return 0, 0, err
	}
	if err := b.djangoLoadsEdits(backing, keys, edited); err != nil {
		return 0, 0, fmt.Errorf("after saving through the mount %v: %w", args, err)
	}
	return elapsed, rss, nil
}

// djangoLoadsEdits checks, with Django's own load(), that every session in
// dir holds its edit: a benchmark of broken saves would be worthless.
func (b *bench) djangoLoadsEdits(dir string, keys []string, edited []json.RawMessage) error {
	var res []harness.LoadResult
	if err := b.dj.Run(context.Background(), b.settings(dir), harness.OpLoad, keys, &res); err != nil {
		return err
	}
	if len(res) != len(keys) {
		return fmt.Errorf("Django answered %d loads for %d keys", len(res), len(keys))
	}
	for i, r := range res {
		if !r.OK || !r.KeyKept {
			return fmt.Errorf("Django cannot load %s: %+v", keys[i], r)
		}
		same, where, err := harness.SameSession(r.Data, edited[i])
		if err != nil || !same {
			return fmt.Errorf("Django loads %s as %s, want %s (%s, %v)", keys[i], r.Data, edited[i], where, err)
		}
	}
	return nil
}

// saveThroughLoopback is the same copy loop onto the raw files through
// go-fuse's loopback example (no validation, encoding or signing): the
// FUSE requests of a save alone, on this machine.
func (b *bench) saveThroughLoopback(backing, scratch string, keys []string) (time.Duration, error) {
	progress("saving through go-fuse's loopback example")
	mnt, stop, err := b.mountLoopback(backing)
	if err != nil {
		return 0, err
	}
	// Raw names: Django's default SESSION_COOKIE_NAME, as populate writes.
	elapsed, err := copyEach(scratch, mnt, keys, func(k string) string { return "sessionid" + k })
	if stopErr := stop(); err == nil {
		err = stopErr
	}
	return elapsed, err
}
