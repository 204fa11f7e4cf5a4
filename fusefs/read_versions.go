package fusefs

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
)

// Lost updates: a process that read a session through the mount and saves
// it later must not silently undo a change Django (or another process)
// made in between. The mount remembers which version of each session each
// process last read or saved, and a save by that process is conditional on
// the backing file still being that version (store.SaveOptions.IfMatch);
// otherwise the save fails with EIO at close (or rename) and the reason is
// logged. Remembering by process, not by open file, covers the tools that
// read with one descriptor and write with another or by rename: sed -i
// (reads KEY.json, writes a temp file, renames it over), vim and emacs
// (read at start, write by rename or in place much later), Python. A
// process that never read the session (`echo ... > KEY.json`) overwrites.

// A record is keyed by process identity (pid and start time), not by pid
// alone: once the pid counter wraps, a process that never read the session
// must not inherit the record of one that did and see its blind write
// refused. Records of processes that are gone are dropped by a sweep. The
// process of a save at close is the one that opened the file for writing:
// a close may come from inside execve (close-on-exec), where the caller's
// identity cannot be read (processIdentity).

// maxReadVersions bounds the memory of versions read: past it the oldest
// half is forgotten (a save by such a process then simply overwrites).
const maxReadVersions = 16384

// readSweepEvery is how often, at most, records of processes that have
// exited are dropped (after the next read or save). A sweep reads /proc
// once per process in the table, off the path of requests.
const readSweepEvery = 10 * time.Second

type readKey struct {
	key  string
	proc procID
}

type readVersions struct {
	mu       sync.Mutex
	m        map[readKey]readVersion
	seq      uint64
	swept    time.Time // when records of exited processes were last dropped
	sweeping bool

	// identify names the process of a request's thread and alive says
	// whether a process still runs: /proc (process.go); tests substitute
	// them to make a pid come round at will.
	identify func(tid uint32) procID
	alive    func(procID) bool
}

type readVersion struct {
	version store.Version
	seq     uint64 // age, for eviction
}

// callerProc is the process of the request in ctx; the zero procID when
// FUSE or /proc does not say (it is then not tracked: its saves
// overwrite). Never while serving FLUSH (processIdentity).
func (d *rootDir) callerProc(ctx context.Context) procID {
	if d.opt.OverwriteConflicts {
		return procID{}
	}
	c, ok := fuse.FromContext(ctx)
	if !ok || c.Pid == 0 {
		return procID{}
	}
	return d.readVersions.identify(c.Pid)
}

// noteVersion remembers that process proc has seen version v of key
// (read it, or saved it).
func (d *rootDir) noteVersion(proc procID, key string, v store.Version) {
	if d.opt.OverwriteConflicts || !proc.known() {
		return
	}
	r := &d.readVersions
	r.mu.Lock()
	if r.m == nil {
		r.m = map[readKey]readVersion{}
	}
	if len(r.m) >= maxReadVersions {
		cut := r.seq - maxReadVersions/2
		for k, v := range r.m {
			if v.seq < cut {
				delete(r.m, k)
			}
		}
	}
	r.seq++
	r.m[readKey{key, proc}] = readVersion{version: v, seq: r.seq}
	sweep := !r.sweeping && time.Since(r.swept) >= readSweepEvery
	if sweep {
		r.sweeping = true
	}
	r.mu.Unlock()
	if sweep {
		go r.sweep()
	}
}

// sweep drops the records of processes that are no longer running.
func (r *readVersions) sweep() {
	r.mu.Lock()
	procs := map[procID]bool{}
	for k := range r.m {
		procs[k.proc] = true
	}
	r.mu.Unlock()
	for p := range procs {
		procs[p] = r.alive(p) // /proc, without the lock
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.m {
		if alive, known := procs[k.proc]; known && !alive {
			delete(r.m, k)
		}
	}
	r.swept, r.sweeping = time.Now(), false
}

// baseVersion is the version of key process proc last saw, which its save
// must replace; zero when it saw none (or conflicts are overwritten).
func (d *rootDir) baseVersion(proc procID, key string) store.Version {
	if d.opt.OverwriteConflicts || !proc.known() {
		return store.Version{}
	}
	r := &d.readVersions
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[readKey{key, proc}].version
}

// conflictHint is the log attributes explaining a refused save that lost
// a race; none for other refusals.
func conflictHint(err error) []any {
	if errors.Is(err, store.ErrConflict) && errors.Is(err, store.ErrNotFound) {
		return []any{"hint", "the session was deleted (or its TTL ended) after this process read it: nothing was written"}
	}
	if errors.Is(err, store.ErrConflict) {
		return []any{"hint", "the session changed after this process read it (Django saved it meanwhile?): read it again and redo the edit, or mount with --on-conflict=overwrite"}
	}
	return nil
}
