package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// Samples of one lookup-latency measurement: enough for a stable p99 at
// every scale; a measurement also stops after lockWindow.
const (
	statSamples = 2000
	listSamples = 200
	lockWindow  = 20 * time.Second
)

// saverScript saves sessions through the mount in a loop, each open, write
// and close a separate save, as another program editing sessions would. It
// prints a line after its first save, and the number of saves when it is
// terminated.
const saverScript = `
import signal, sys
mnt, keys = sys.argv[1], sys.argv[2:]
n = 0
def stop(*_):
    print(n, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    with open("%s/%s.json" % (mnt, keys[n % len(keys)]), "w") as f:
        f.write('{"saved": %d}\n' % n)
    n += 1
    if n == 1:
        print("saving", flush=True)
`

// lockRows: rows 9, how long a stat of one session and a listing of the
// mount take while another process saves other sessions through the same
// mount in a loop, with fsync (the default), against the same mount idle.
// A save must not make lookups and listings wait for its fsyncs. The mount
// has --cache-timeout 0, so that every stat reaches it.
func (b *bench) lockRows() ([]row, error) {
	p, err := b.populate(b.path("lock"), b.sz.lock, false, false)
	if err != nil {
		return nil, err
	}
	m, err := b.mountSessionfs(p.dir, b.path("mnt-lock"), "--cache-timeout", "0")
	if err != nil {
		return nil, err
	}
	rows, err := b.lockMeasure(m, p.keys)
	if stopErr := m.stop(); err == nil {
		err = stopErr
	}
	return rows, err
}

func (b *bench) lockMeasure(m *server, keys []string) ([]row, error) {
	target := filepath.Join(m.dir, keys[0]+".json")
	stat := func() error { _, err := os.Lstat(target); return err }
	list := func() error { _, err := os.ReadDir(m.dir); return err }

	progress("stat and ls through an idle mount")
	idleStat, err := latencies(stat, statSamples)
	if err != nil {
		return nil, err
	}
	idleList, err := latencies(list, listSamples)
	if err != nil {
		return nil, err
	}

	saved := keys[1:]
	if len(saved) == 0 {
		saved = keys // one session at the tiny scale: it is the one stat'ed
	}
	saved = saved[:min(len(saved), 64)]
	progress("stat and ls while another process saves %d sessions in a loop", len(saved))
	saver := exec.Command("python3", append([]string{"-c", saverScript, m.dir}, saved...)...)
	saver.Stderr = os.Stderr
	out, err := saver.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := saver.Start(); err != nil {
		return nil, err
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		saver.Process.Kill()
		saver.Wait()
		return nil, fmt.Errorf("the saving process ended before its first save")
	}
	start := time.Now()
	busyStat, statErr := latencies(stat, statSamples)
	busyList, listErr := latencies(list, listSamples)
	elapsed := time.Since(start)
	saver.Process.Signal(syscall.SIGTERM)
	var saves string
	if lines.Scan() {
		saves = lines.Text()
	}
	saver.Wait()
	if statErr != nil {
		return nil, statErr
	}
	if listErr != nil {
		return nil, listErr
	}
	progress("%s saves in %s; stat p50 %s idle, %s busy; ls p50 %s idle, %s busy",
		saves, elapsed.Round(time.Millisecond), dur(idleStat.p(50)), dur(busyStat.p(50)), dur(idleList.p(50)), dur(busyList.p(50)))

	n := len(keys)
	const other = "the same, no saves"
	return []row{
		{id: "9a", what: "stat a session while another process saves (fsync), mean", ours: busyStat.mean(),
			other: other, theirs: idleStat.mean(), target: atMostSlower(1.6)},
		{id: "9b", what: "stat a session while another process saves (fsync), p99", ours: busyStat.p(99),
			other: other, theirs: idleStat.p(99), target: atMostSlower(4)},
		{id: "9c", what: fmt.Sprintf("ls of %d sessions while another process saves (fsync), mean", n), ours: busyList.mean(),
			other: other, theirs: idleList.mean(), target: atMostSlower(2)},
		{id: "9d", what: fmt.Sprintf("ls of %d sessions while another process saves (fsync), p99", n), ours: busyList.p(99),
			other: other, theirs: idleList.p(99)},
	}, nil
}

// sample is a set of measured latencies.
type sample []time.Duration

// latencies times fn up to n times, stopping early after lockWindow.
func latencies(fn func() error, n int) (sample, error) {
	s := make(sample, 0, n)
	deadline := time.Now().Add(lockWindow)
	for len(s) < n && time.Now().Before(deadline) {
		start := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		s = append(s, time.Since(start))
	}
	slices.Sort(s)
	return s, nil
}

func (s sample) mean() time.Duration {
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return sum / time.Duration(len(s))
}

// p is the q-th percentile (nearest rank).
func (s sample) p(q int) time.Duration {
	i := (len(s)*q + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}
