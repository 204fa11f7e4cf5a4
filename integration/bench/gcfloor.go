package main

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// readUnlinkFloor times what any gc over these files must do where unlinks
// are cheap: read every file (the expiry may be inside the session, so
// Django's clear_expired reads them too) on all cores, and remove, from a
// fresh copy of base, exactly the files gc removed from gcDir.
func (b *bench) readUnlinkFloor(base, gcDir string, settle func()) (time.Duration, error) {
	all, err := names(base)
	if err != nil {
		return 0, err
	}
	kept, err := names(gcDir)
	if err != nil {
		return 0, err
	}
	dir := b.path("gc-read-unlink")
	if err := copyDir(base, dir); err != nil {
		return 0, err
	}
	list := make([]string, 0, len(all))
	for name := range all {
		list = append(list, name)
	}
	settle()
	progress("read + unlink floor")
	start := time.Now()
	workers := runtime.NumCPU()
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(list) && errs[w] == nil; i += workers {
				path := filepath.Join(dir, list[i])
				if _, errs[w] = os.ReadFile(path); errs[w] == nil && !kept[list[i]] {
					errs[w] = os.Remove(path)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return elapsed, nil
}
