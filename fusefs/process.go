package fusefs

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// processOf turns the thread id the kernel puts in a FUSE request into its
// process id (the Tgid in /proc/<tid>/status), which is what ps and an
// operator know; the thread id itself when that cannot be read. Safe while
// serving any request: /proc/<tid>/status never waits on the process.
func processOf(tid uint32) uint32 {
	if pid, ok := threadProcess(tid); ok {
		return pid
	}
	return tid
}

// procID identifies a process across pid reuse: its pid and its start time
// (clock ticks after boot, field 22 of /proc/<pid>/stat). A process that
// is handed a recycled pid starts later than the one that had it.
type procID struct {
	pid   uint32
	start uint64
}

// known reports whether p names a process (the zero procID does not).
func (p procID) known() bool { return p.pid != 0 }

// processIdentity is the process of thread tid with its start time; the
// zero procID when /proc does not say (the thread is gone, lives in
// another pid namespace, or /proc hides other users' processes).
//
// It reads /proc/<pid>/stat, which waits for the process's exec_update_lock:
// execve holds it while it closes the close-on-exec descriptors, and each
// close of a file on this mount is a FLUSH the mount must answer first. So
// it must never be called while serving FLUSH (or RELEASE); open, create,
// rename and setattr come from a process going about its business.
func processIdentity(tid uint32) procID {
	pid, ok := threadProcess(tid)
	if !ok {
		return procID{}
	}
	if start, ok := threadProcs.start(tid); ok {
		return procID{pid: pid, start: start}
	}
	start, ok := processStart(pid)
	if !ok {
		return procID{}
	}
	threadProcs.putStart(tid, start)
	return procID{pid: pid, start: start}
}

// threadProcess is the process id of thread tid, from /proc/<tid>/status.
// Reading /proc costs more than a FUSE round trip here, and every open and
// save asks, so answers are remembered for a moment: a thread id comes
// round again only after the kernel has handed out every other id
// (pid_max, at least 32,768), far more than can happen in 100 ms.
func threadProcess(tid uint32) (uint32, bool) {
	if tid == 0 {
		return 0, false
	}
	if pid, ok := threadProcs.pid(tid); ok {
		return pid, true
	}
	status, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(tid), 10) + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			pid, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil || pid == 0 {
				return 0, false
			}
			threadProcs.putPID(tid, uint32(pid))
			return uint32(pid), true
		}
	}
	return 0, false
}

// processStart is the start time of process pid: field 22 of
// /proc/<pid>/stat. See processIdentity for when it may be called.
func processStart(pid uint32) (uint64, bool) {
	stat, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/stat")
	if err != nil {
		return 0, false
	}
	return parseStart(string(stat))
}

// parseStart reads the start time from the text of a /proc/<pid>/stat,
// counting fields after the command name, which is in parentheses and may
// itself hold spaces and parentheses.
func parseStart(stat string) (uint64, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(stat[i+1:]) // fields[0] is field 3, the state
	const startField = 22 - 3
	if len(fields) <= startField {
		return 0, false
	}
	start, err := strconv.ParseUint(fields[startField], 10, 64)
	return start, err == nil
}

// processAlive reports whether process p still runs: its pid exists and
// started when p says. It reads /proc/<pid>/stat: only off the path of
// requests (processIdentity).
func processAlive(p procID) bool {
	start, ok := processStart(p.pid)
	return ok && start == p.start
}

// threadProcs remembers recent answers of threadProcess and processIdentity.
var threadProcs = threadCache{ttl: 100 * time.Millisecond, max: 4096}

// threadCache maps thread ids to their process (and its start time, once
// read) for ttl after the process id was read.
type threadCache struct {
	ttl time.Duration
	max int // entries before the map is started afresh

	mu sync.Mutex
	m  map[uint32]threadEntry
}

type threadEntry struct {
	pid   uint32
	start uint64 // 0: not read yet
	read  time.Time
}

func (c *threadCache) get(tid uint32) (threadEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[tid]
	if !ok || time.Since(e.read) > c.ttl {
		return threadEntry{}, false
	}
	return e, true
}

func (c *threadCache) pid(tid uint32) (uint32, bool) {
	e, ok := c.get(tid)
	return e.pid, ok
}

func (c *threadCache) start(tid uint32) (uint64, bool) {
	e, ok := c.get(tid)
	return e.start, ok && e.start != 0
}

func (c *threadCache) putPID(tid, pid uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[uint32]threadEntry)
	}
	c.m[tid] = threadEntry{pid: pid, read: time.Now()}
}

// putStart adds the start time to tid's entry, if it is still there.
func (c *threadCache) putStart(tid uint32, start uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[tid]; ok {
		e.start = start
		c.m[tid] = e
	}
}
