package campaign

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The kernel keeps a process's peak RSS across exec, and Go starts
// children with vfork semantics, so wait4's ru_maxrss of a command started
// from a big test process reports the test's own peak. A small Python
// parent that forks (a fresh accounting) and waits measures the command alone.
const measureScript = `import os, sys
out = sys.argv[1]
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
open(out, "w").write(str(ru.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
`

// Measured wraps argv so that Run reports its true peak RSS; dir holds the
// measurement.
func Measured(dir string, argv []string) []string {
	return append([]string{"/usr/bin/python3", "-c", measureScript, filepath.Join(dir, "maxrss")}, argv...)
}

func readMaxRSS(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	kb, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return kb << 10
}
