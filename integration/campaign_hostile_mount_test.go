package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/campaign"
	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store"
)

// The mount of this campaign holds at most mountBufferBudget for its open
// files (--max-buffer-memory); its peak resident set must stay under
// mountMemLimit over the whole table: the budget, plus what the process
// needs besides (the Go runtime, and the heap that encoding, signing and
// checking a 15 MiB save takes for a moment).
const (
	mountBufferBudget = 64 << 20
	mountMemLimit     = mountBufferBudget + 160<<20
)

// TestCampaignHostileMount: hostile uses of the mount's bounds and
// permissions. A write refused past a bound never commits what came before
// it; truncating scratch files gives their memory back; writers and readers
// together never make the mount hold more than its buffer budget (ENOMEM
// past it), and readers of one session share one copy; emptying a session
// is refused and logged; view files refuse writing with EACCES; a shared
// mmap of a file open for writing is ENODEV (read-only and private ones
// work); a pid recycled from a reader writes
// blind; a process holding files across exec does not hang the mount; a
// user of the mount's group reads and a stranger is refused. Each case
// leaves the backing directory as it was (unless it says it changes it),
// the mount keeps serving, its memory stays bounded and nothing hangs.
func TestCampaignHostileMount(t *testing.T) {
	dj := harness.RequireDjango(t, "3.2")
	requirePidReuse(t) // root: it also runs commands as other users
	tl := campaign.Start(t, "hostile-mount")
	m, _ := accessMount(t, "--max-buffer-memory", fmt.Sprint(mountBufferBudget),
		"--allow-other", "--gid", fmt.Sprint(webGID), "--umask", "0027")
	e := &hostileEnv{t: t, tl: tl, m: m, dj: dj, key: djangoCreate(t, m, dj, baseSession)[0], tmp: t.TempDir()}
	pid, err := campaign.MountPID(m.Binary, m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cases := hostileMountCases()
	rounds := campaign.Count(1, 5)
	want := pretty(t, baseSession)
	for round := 0; round < rounds; round++ {
		for _, c := range cases {
			runHostileCase(t, e, c, fmt.Sprintf("%s/%d", c.name, round), pid, want, mountMemLimit)
		}
	}
	hwm, _ := campaign.VmHWM(pid)
	t.Logf("%d rounds of %d hostile mount cases; mount peak RSS %d MiB (buffer budget %d MiB)", rounds, len(cases), hwm>>20, mountBufferBudget>>20)
}

// validPrefixed is a JSON object followed by spaces up to n bytes: what
// an oversized copy leaves in a buffer when it is cut at any point past
// the object, valid as it stands.
func validPrefixed(n int) []byte {
	b := bytes.Repeat([]byte(" "), n)
	copy(b, `{"cut": "at the size bound"}`)
	return b
}

// bigSession is valid session JSON of about n bytes (compressible: its
// backing file is small).
func bigSession(n int) []byte {
	return []byte(`{"big": "` + strings.Repeat("x", n) + `"}`)
}

// mountLogHas is "" when the mount's log holds s, else a description. The
// mount writes the line before it answers the operation, but the log comes
// through a pipe this process copies on its own time: it gets a moment.
func mountLogHas(e *hostileEnv, s string) string {
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(e.m.Stderr(), s); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Sprintf("the mount's log does not say %q", s)
		}
	}
	return ""
}

// plantSession saves js under key in the backing directory.
func plantSession(e *hostileEnv, key string, js []byte) {
	if _, err := campaignStore(e.t, e.m.Backing, e.m.SecretKey).Save(context.Background(), key, js, store.SaveOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func hostileMountCases() []hostileCase {
	return []hostileCase{
		{name: "cp-over-the-bound-leaves-session", run: func(e *hostileEnv) string {
			src := filepath.Join(e.tmp, "oversized.json")
			if err := os.WriteFile(src, validPrefixed(20<<20), 0o600); err != nil {
				e.t.Fatal(err)
			}
			out, err := exec.Command("cp", src, e.m.File(e.key)).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "File too large") {
				return fmt.Sprintf("cp of 20 MiB: %v: %s, want File too large", err, out)
			}
			return mountLogHas(e, "a write to this open file failed")
		}},
		{name: "write-past-the-bound-then-close-fails", run: func(e *hostileEnv) string {
			f, err := os.OpenFile(e.m.File(e.key), os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				return err.Error()
			}
			data := validPrefixed(17 << 20)
			var werr error
			for off := 0; off < len(data) && werr == nil; off += 1 << 20 {
				_, werr = f.Write(data[off : off+1<<20])
			}
			if msg := wantErrno("write past 16 MiB", werr, syscall.EFBIG); msg != "" {
				f.Close()
				return msg
			}
			return wantErrno("close after the refused write", f.Close(), syscall.EFBIG)
		}},
		{name: "scratch-over-the-bound-then-mv", run: func(e *hostileEnv) string {
			tmp := filepath.Join(e.m.Dir, "sedOVER01")
			defer os.Remove(tmp)
			if msg := wantErrno("scratch write past 16 MiB", writeThrough(tmp, validPrefixed(17<<20), os.O_CREATE|os.O_TRUNC), syscall.EFBIG); msg != "" {
				return msg
			}
			return wantErrno("mv of the scratch file onto the session", os.Rename(tmp, e.m.File(e.key)), syscall.EFBIG)
		}},
		{name: "scratch-write-and-truncate-16x15MiB", run: func(e *hostileEnv) string {
			data := bytes.Repeat([]byte("s"), 15<<20)
			for i := 0; i < 16; i++ {
				p := filepath.Join(e.m.Dir, fmt.Sprintf("scratch%02d", i))
				defer os.Remove(p)
				if err := writeThrough(p, data, os.O_CREATE|os.O_TRUNC); err != nil {
					return fmt.Sprintf("write %d: %v", i, err)
				}
				if err := os.Truncate(p, 0); err != nil {
					return fmt.Sprintf("truncate %d: %v", i, err)
				}
			}
			return ""
		}},
		{name: "writers-24x15MiB-past-the-budget", run: func(e *hostileEnv) string {
			doc := bigSession(15 << 20)
			var files []*os.File
			var refused int
			for i := 0; i < 24; i++ {
				f, err := os.OpenFile(e.m.File(fmt.Sprintf("bigwriter%03d", i)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Sprintf("create %d: %v", i, err)
				}
				files = append(files, f)
				var werr error
				for off := 0; off < len(doc) && werr == nil; off += 1 << 20 {
					_, werr = f.Write(doc[off:min(off+1<<20, len(doc))])
				}
				if werr != nil {
					if !errors.Is(werr, syscall.ENOMEM) {
						return fmt.Sprintf("writer %d: %v, want ENOMEM past the budget", i, werr)
					}
					refused++
				}
			}
			var problems []string
			for i, f := range files {
				key := fmt.Sprintf("bigwriter%03d", i)
				if err := f.Close(); err != nil && !errors.Is(err, syscall.ENOMEM) {
					problems = append(problems, fmt.Sprintf("close %s: %v", key, err))
				}
				if err := os.Remove(e.m.File(key)); err != nil && !os.IsNotExist(err) {
					problems = append(problems, fmt.Sprintf("rm %s: %v", key, err))
				}
			}
			if refused == 0 {
				problems = append(problems, "24 writers of 15 MiB all fit in a 64 MiB buffer budget")
			}
			if msg := mountLogHas(e, "--max-buffer-memory"); msg != "" {
				problems = append(problems, msg)
			}
			return strings.Join(problems, "; ")
		}},
		{name: "readers-20-of-one-11MiB-session",
			plant: func(e *hostileEnv) { plantSession(e, "bigreader01", bigSession(11<<20)) },
			run: func(e *hostileEnv) string {
				defer os.Remove(e.m.File("bigreader01"))
				var files []*os.File
				defer func() {
					for _, f := range files {
						f.Close()
					}
				}()
				for i := 0; i < 20; i++ {
					f, err := os.Open(e.m.File("bigreader01"))
					if err != nil {
						return fmt.Sprintf("reader %d: %v (readers of one version share one copy)", i, err)
					}
					files = append(files, f)
					head := make([]byte, 16)
					if _, err := f.Read(head); err != nil || !bytes.HasPrefix(head, []byte("{\n  \"big\"")) {
						return fmt.Sprintf("reader %d read %q: %v", i, head, err)
					}
				}
				return ""
			}, changes: true},
		{name: "truncate-to-zero-refused-and-logged", run: func(e *hostileEnv) string {
			out, err := exec.Command("truncate", "-s", "0", e.m.File(e.key)).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "Invalid argument") {
				return fmt.Sprintf("truncate -s 0: %v: %s, want Invalid argument", err, out)
			}
			return mountLogHas(e, "an empty file is not a session")
		}},
		{name: "write-stats-json-EACCES", run: func(e *hostileEnv) string {
			_, err := os.OpenFile(filepath.Join(e.m.Dir, ".stats.json"), os.O_WRONLY|os.O_TRUNC, 0)
			return wantErrno("open .stats.json for writing", err, syscall.EACCES)
		}},
		{name: "mmap-shared-ENODEV-for-writers-private-works", run: func(e *hostileEnv) string {
			out, err := exec.Command(harness.SystemPython, "-c", `
import errno, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
m = mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
print("shared, read-only:", m[:1].decode())
m = mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
print("private:", m[:1].decode())
wfd = os.open(sys.argv[1], os.O_RDWR)
try:
    mmap.mmap(wfd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    print("shared, open for writing: mapped")
except OSError as e:
    print("shared, open for writing:", errno.errorcode[e.errno])
`, e.m.File(e.key)).CombinedOutput()
			if err != nil || string(out) != "shared, read-only: {\nprivate: {\nshared, open for writing: ENODEV\n" {
				return fmt.Sprintf("mmap: %v: %q", err, out)
			}
			return ""
		}},
		{name: "blind-cp-with-a-recycled-reader-pid",
			plant: func(e *hostileEnv) { plantSession(e, "pidreuse0002", []byte(`{"n": 1}`)) },
			run: func(e *hostileEnv) string {
				defer os.Remove(e.m.File("pidreuse0002"))
				src := filepath.Join(e.tmp, "blind.json")
				if err := os.WriteFile(src, []byte(`{"blind": 1}`), 0o600); err != nil {
					e.t.Fatal(err)
				}
				return blindWriteWithRecycledPid(e.t, e.m, "pidreuse0002", src, `{"blind":1}`)
			}, changes: true},
		{name: "open-writers-across-exec",
			plant: func(e *hostileEnv) { plantSession(e, "cloexec0004", []byte(`{"n": 1}`)) },
			run: func(e *hostileEnv) string {
				defer os.Remove(e.m.File("cloexec0004"))
				out, err := exec.Command(harness.SystemPython, "-c", `
import os, sys
open(sys.argv[1]).read()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, b'{"n": 2}')
sys.exit(os.system("true") or os.close(fd))
`, e.m.File("cloexec0004")).CombinedOutput()
				if err != nil {
					return fmt.Sprintf("python holding a writer across exec: %v: %s", err, out)
				}
				return ""
			}, changes: true},
		{name: "group-reads-stranger-refused", run: func(e *hostileEnv) string {
			var problems []string
			if out, err := webUser.run(e.t, "cat", e.m.File(e.key)); err != nil || out != pretty(e.t, baseSession) {
				problems = append(problems, fmt.Sprintf("the group's user reading: %v: %.80q", err, out))
			}
			if out, err := webUser.run(e.t, "sh", "-c", `echo '{}' > "$1"`, "sh", e.m.File(e.key)); err == nil || !strings.Contains(out, "Permission denied") {
				problems = append(problems, fmt.Sprintf("the group's user writing: %v: %q", err, out))
			}
			for _, p := range []string{e.m.Dir, e.m.File(e.key), filepath.Join(e.m.Dir, ".stats.json")} {
				if out, err := stranger.run(e.t, "cat", p); err == nil || !strings.Contains(out, "Permission denied") {
					problems = append(problems, fmt.Sprintf("a stranger reading %s: %v: %q", filepath.Base(p), err, out))
				}
			}
			return strings.Join(problems, "; ")
		}},
	}
}
