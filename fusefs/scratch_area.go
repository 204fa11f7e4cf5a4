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

	uid, gid uint32 // the creator's: an editor run by another user (--allow-other) reopens its own files

	mu    sync.Mutex
	data  pageBuf // charged to the scratch area and the buffer budget
	mode  uint32  // permission bits
	mtime time.Time
	dirty bool // written since it became a shadow: renaming it back is a save
	// failed is the error of a write or truncate the entry refused: what it
	// holds is not what was written, so it never becomes a session (a
	// rename onto a session name fails with it) unless it is cut to nothing
	// and written afresh.
	failed  syscall.Errno
	removed bool // unlinked or replaced: its bytes went back; an fd still open on it cannot write
}

// attr fills the entry's attributes: the owner and mode it was created
// with (the creator's umask applied by the kernel), as on a disk.
func (e *scratchEntry) attr(out *fuse.Attr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out.Mode = e.mode&0o7777 | syscall.S_IFREG
	size := uint64(e.data.len())
	if e.link {
		out.Mode = e.mode&0o7777 | syscall.S_IFLNK
		size = uint64(len(e.target))
	}
	out.Nlink = 1
	out.Uid, out.Gid = e.uid, e.gid
	fileExtent(out, size, e.mtime)
}

// scratchArea holds the scratch entries by name, within a count and a byte
// budget so a runaway tool cannot fill the mounting process's memory. The
// byte budget counts the files' lengths; what they hold in memory is that,
// rounded up to whole pages per file (pageBuf), and a file cut short gives
// back what it no longer needs at once. What they hold is also charged to
// the mount's buffer budget. The map is guarded by rootDir.mu; bytes is
// shared with writers that hold only an entry's lock.
type scratchArea struct {
	maxFiles int
	maxBytes int64
	bytes    atomic.Int64
	buffers  *bufferBudget
	byName   map[string]*scratchEntry
}

func newScratchArea(maxFiles int, maxBytes int64, buffers *bufferBudget) *scratchArea {
	return &scratchArea{maxFiles: maxFiles, maxBytes: maxBytes, buffers: buffers, byName: map[string]*scratchEntry{}}
}

// reserve accounts for delta more bytes of length (negative frees), or
// fails with ENOSPC, logged, when the area would exceed its byte budget.
func (a *scratchArea) reserve(delta int64) syscall.Errno {
	if a.bytes.Add(delta) > a.maxBytes && delta > 0 {
		a.bytes.Add(-delta)
		a.buffers.log.Warn("scratch area full: editor and temp files hold --scratch-max-bytes",
			"bytes", delta, "in_use", a.bytes.Load(), "max_bytes", a.maxBytes)
		return syscall.ENOSPC
	}
	return 0
}

// hold charges the memory an entry's pages take to the buffer budget
// (ENOMEM past it); negative gives back.
func (a *scratchArea) hold(delta int64) syscall.Errno {
	if !a.buffers.take(delta) {
		return a.buffers.refuse("scratch write", "", delta)
	}
	return 0
}

// resize sets e's length to n within both budgets. Caller holds e.mu.
func (a *scratchArea) resize(e *scratchEntry, n int) syscall.Errno {
	delta := int64(n - e.data.len())
	if errno := a.reserve(delta); errno != 0 {
		return errno
	}
	if errno := e.data.resize(n, a.hold); errno != 0 {
		a.reserve(-delta)
		return errno
	}
	return 0
}

// add creates name, empty (or a symlink), or fails with ENOSPC when the
// area holds maxFiles. Caller holds rootDir.mu and has checked name is free.
func (a *scratchArea) add(name string, e *scratchEntry) syscall.Errno {
	if len(a.byName) >= a.maxFiles {
		return syscall.ENOSPC
	}
	if e.link {
		if errno := a.reserve(int64(len(e.target))); errno != 0 {
			return errno
		}
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
	a.resize(e, 0) // an fd still open on it sees an empty file; memory is bounded
	e.removed = true
	e.mu.Unlock()
	if e.link {
		a.reserve(-int64(len(e.target)))
	}
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
