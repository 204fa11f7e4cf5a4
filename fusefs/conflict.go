package fusefs

import (
	"context"
	"errors"
	"sync"

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

// maxReadVersions bounds the memory of versions read: past it the oldest
// half is forgotten (a save by such a process then simply overwrites).
const maxReadVersions = 16384

type readKey struct {
	key string
	pid uint32
}

type readVersions struct {
	mu  sync.Mutex
	m   map[readKey]readVersion
	seq uint64
}

type readVersion struct {
	version store.Version
	seq     uint64 // age, for eviction
}

// callerPID is the process of the request in ctx (0 when unknown).
func callerPID(ctx context.Context) uint32 {
	c, ok := fuse.FromContext(ctx)
	if !ok {
		return 0
	}
	return processOf(c.Pid)
}

// noteVersion remembers that the caller of ctx has seen version v of key
// (read it, or saved it).
func (d *rootDir) noteVersion(ctx context.Context, key string, v store.Version) {
	if d.opt.OverwriteConflicts {
		return
	}
	pid := callerPID(ctx)
	if pid == 0 {
		return
	}
	r := &d.readVersions
	r.mu.Lock()
	defer r.mu.Unlock()
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
	r.m[readKey{key, pid}] = readVersion{version: v, seq: r.seq}
}

// baseVersion is the version of key the caller of ctx last saw, which its
// save must replace; zero when it saw none (or conflicts are overwritten).
func (d *rootDir) baseVersion(ctx context.Context, key string) store.Version {
	if d.opt.OverwriteConflicts {
		return store.Version{}
	}
	pid := callerPID(ctx)
	r := &d.readVersions
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[readKey{key, pid}].version
}

// conflictHint is the log attributes explaining a refused save that lost
// a race; none for other refusals.
func conflictHint(err error) []any {
	if errors.Is(err, store.ErrConflict) {
		return []any{"hint", "the session changed after this process read it (Django saved it meanwhile?): read it again and redo the edit, or mount with --on-conflict=overwrite"}
	}
	return nil
}
