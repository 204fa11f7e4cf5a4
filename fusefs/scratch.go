package fusefs

import (
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// scratchEntry is a file that is not a session: an editor's swap, backup or
// test file, sed's temp file, emacs's lock symlink. It lives in memory only.
type scratchEntry struct {
	link   bool   // a symlink (emacs's lock file)
	target string // symlink target

	// shadowOf is the key this entry is the backup of ("KEY.json~" after
	// vim or emacs renamed the session away), while that key is hidden and
	// its backing session untouched. Guarded by rootDir.mu.
	shadowOf string

	mu    sync.Mutex
	data  []byte
	mode  uint32 // permission bits
	mtime time.Time
	dirty bool // written since it became a shadow: renaming it back is a save
}

func (e *scratchEntry) attr(out *fuse.Attr, uid, gid uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out.Mode = e.mode & 0o7777
	if e.link {
		out.Mode |= syscall.S_IFLNK
		out.Size = uint64(len(e.target))
	} else {
		out.Mode |= syscall.S_IFREG
		out.Size = uint64(len(e.data))
	}
	out.Nlink = 1
	out.Uid, out.Gid = uid, gid
	mt := e.mtime
	out.SetTimes(&mt, &mt, &mt)
	out.Blksize = 4096
}

// scratchArea holds the scratch entries by name, within a count and a byte
// budget so a runaway tool cannot fill the mounting process's memory. The
// map is guarded by rootDir.mu; bytes is shared with writers that hold only
// an entry's lock.
type scratchArea struct {
	maxFiles int
	maxBytes int64
	bytes    atomic.Int64
	byName   map[string]*scratchEntry
}

func newScratchArea(maxFiles int, maxBytes int64) *scratchArea {
	return &scratchArea{maxFiles: maxFiles, maxBytes: maxBytes, byName: map[string]*scratchEntry{}}
}

// reserve accounts for delta more bytes (negative frees), or fails with
// ENOSPC when the area would exceed its budget.
func (a *scratchArea) reserve(delta int64) syscall.Errno {
	if a.bytes.Add(delta) > a.maxBytes && delta > 0 {
		a.bytes.Add(-delta)
		return syscall.ENOSPC
	}
	return 0
}

// add creates name, or fails with ENOSPC when the area holds maxFiles.
// Caller holds rootDir.mu and has checked name is free.
func (a *scratchArea) add(name string, e *scratchEntry) syscall.Errno {
	if len(a.byName) >= a.maxFiles {
		return syscall.ENOSPC
	}
	if e.link {
		if errno := a.reserve(int64(len(e.target))); errno != 0 {
			return errno
		}
	} else if errno := a.reserve(int64(len(e.data))); errno != 0 {
		return errno
	}
	a.byName[name] = e
	return 0
}

// remove deletes name and frees its bytes. Caller holds rootDir.mu.
func (a *scratchArea) remove(name string) *scratchEntry {
	e := a.byName[name]
	if e == nil {
		return nil
	}
	delete(a.byName, name)
	e.mu.Lock()
	size := len(e.data) + len(e.target)
	e.data = nil // an fd still open on it sees an empty file; memory is bounded
	e.mu.Unlock()
	a.reserve(-int64(size))
	return e
}

func (a *scratchArea) dirEntries() []fuse.DirEntry {
	names := make([]string, 0, len(a.byName))
	for name := range a.byName {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]fuse.DirEntry, 0, len(names))
	for _, name := range names {
		mode := uint32(syscall.S_IFREG)
		if a.byName[name].link {
			mode = syscall.S_IFLNK
		}
		out = append(out, fuse.DirEntry{Name: name, Mode: mode})
	}
	return out
}
