package main

import (
	"os"
	"path/filepath"
	"time"
)

// copyEach copies from/KEY.json onto to/<toName(KEY)> for every key and returns
// the loop's time. Per session it reads the scratch file and writes it with
// open(O_WRONLY|O_TRUNC), write, close, as cp does, in this one process, so
// no process start is timed (Django's save loop starts none either). The
// Go runtime's preemption signals reach these close calls too: a save must
// survive them (fusefs commits uninterruptibly).
func copyEach(from, to string, keys []string, toName func(key string) string) (time.Duration, error) {
	start := time.Now()
	for _, k := range keys {
		data, err := os.ReadFile(filepath.Join(from, k+".json"))
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(to, toName(k)), data, 0o600); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
