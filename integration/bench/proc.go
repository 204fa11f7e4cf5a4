package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// timeShell runs a bash script with output discarded and returns its wall
// time, best of rounds (rounds 1: one run).
func timeShell(rounds int, script string) (time.Duration, error) {
	return best(rounds, func() error {
		out, err := exec.Command("bash", "-c", script).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", script, err, out)
		}
		return nil
	})
}

// shellOutput runs a bash script and returns its stdout and wall time.
func shellOutput(script string) (string, time.Duration, error) {
	start := time.Now()
	out, err := exec.Command("bash", "-c", script).Output()
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", script, err)
	}
	return string(out), time.Since(start), nil
}

// gnuTime is GNU time, used for a child's peak RSS: the rusage Go gets from
// wait4 would include this process's own peak, because Go starts children
// with vfork and Linux carries the peak RSS across exec.
const gnuTime = "/usr/bin/time"

// runCLI runs `sessionfs args...` with stdout discarded and returns its wall
// time and peak RSS in KiB (without GNU time: rusage's maxrss, which may be
// this program's own).
func (b *bench) runCLI(args ...string) (time.Duration, int64, error) {
	rssFile := b.path("cli-rss")
	argv := append([]string{b.bin}, args...)
	_, noTime := os.Stat(gnuTime)
	if noTime == nil {
		argv = append([]string{gnuTime, "-f", "%M", "-o", rssFile}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("sessionfs %s: %w", strings.Join(args, " "), err)
	}
	elapsed := time.Since(start)
	if noTime != nil {
		return elapsed, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, nil
	}
	out, err := os.ReadFile(rssFile)
	if err != nil {
		return 0, 0, fmt.Errorf("reading peak RSS: %w", err)
	}
	rss, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("peak RSS %q: %w", out, err)
	}
	return elapsed, rss, nil
}

// vmHWM is a running process's peak RSS in KiB.
func vmHWM(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
