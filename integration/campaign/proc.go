package campaign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Result is one finished command.
type Result struct {
	Stdout, Stderr string
	Code           int  // exit code; -1 when killed by a signal
	TimedOut       bool // the context ran out: the command hung
	MaxRSS         int64
}

// Run runs argv with stdin under a timeout (nothing may hang: a command
// that outlives it is killed and reported as TimedOut).
func Run(timeout time.Duration, stdin []byte, env []string, argv ...string) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := Result{Stdout: out.String(), Stderr: errOut.String(), TimedOut: ctx.Err() != nil}
	if cmd.ProcessState != nil {
		res.Code = cmd.ProcessState.ExitCode()
	}
	if len(argv) > 3 && argv[1] == "-c" && argv[2] == measureScript {
		res.MaxRSS = readMaxRSS(argv[3])
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return res, fmt.Errorf("running %v: %w", argv, err)
	}
	return res, nil
}

// VmHWM is the peak resident set of process pid in bytes, from /proc.
func VmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the status of pid %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("pid %d: odd VmHWM line %q", pid, line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("pid %d: no VmHWM in its status", pid)
}

// MountPID finds the `sessionfs mount` process serving dir (mounttest does
// not expose it): the process whose argv is binary, "mount", ..., dir.
func MountPID(binary, dir string) (int, error) {
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(argv) > 2 && argv[0] == binary && argv[1] == "mount" && argv[len(argv)-1] == dir {
			return strconv.Atoi(filepath.Base(filepath.Dir(p)))
		}
	}
	return 0, fmt.Errorf("no `%s mount ... %s` process", binary, dir)
}
