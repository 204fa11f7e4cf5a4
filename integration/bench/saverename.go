package main

import (
	"os"
	"path/filepath"
	"time"
)

// saveThroughLoopbackRename is the copy loop through go-fuse's loopback
// example, each file written as a save is on disk: a new temp file in the
// directory, renamed over the session (what Django's save and sessionfs's
// commit both do, where copyEach rewrites the file in place). The FUSE
// round trips and the backing file system's create and rename, with no
// validation, encoding or signing.
func (b *bench) saveThroughLoopbackRename(backing, scratch string, keys []string) (time.Duration, error) {
	progress("saving through go-fuse's loopback example, temp file + rename")
	mnt, stop, err := b.mountLoopback(backing)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for _, k := range keys {
		data, err := os.ReadFile(filepath.Join(scratch, k+".json"))
		if err != nil {
			stop()
			return 0, err
		}
		tmp := filepath.Join(mnt, ".save-sessionid"+k)
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			stop()
			return 0, err
		}
		if err := os.Rename(tmp, filepath.Join(mnt, "sessionid"+k)); err != nil {
			stop()
			return 0, err
		}
	}
	elapsed := time.Since(start)
	return elapsed, stop()
}
