package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/integration/harness"
)

// sizes are the session counts of each section.
type sizes struct {
	login  int // login sessions decoded (rows 1)
	large  int // 64 KiB sessions decoded (rows 2)
	list   int // sessions listed (rows 3, 4)
	cat    int // sessions read (rows 5)
	save   int // sessions saved (rows 6)
	gc     int // sessions collected, half expired (rows 7)
	memory int // sessions listed for the memory ceiling (rows 8)
	lock   int // sessions listed while saves run (rows 9)
}

func (s sizes) String() string {
	return fmt.Sprintf("decode %d login + %d of 64 KiB, list %d, cat %d, save %d, gc %d, memory %d, lock %d",
		s.login, s.large, s.list, s.cat, s.save, s.gc, s.memory, s.lock)
}

// scales: full is the targets' sizes but for the memory rows, whose million
// sessions would take most of the time the whole table may take (-memory
// 1000000 measures them); the others divide them (at least one session
// each) for quick runs.
var scales = map[string]sizes{
	"full":  scaleFull,
	"small": divide(50),
	"tiny":  divide(1000),
}

func divide(by int) sizes {
	f := scaleFull
	d := func(n int) int { return max(1, n/by) }
	return sizes{d(f.login), d(f.large), d(f.list), d(f.cat), d(f.save), d(f.gc), d(f.memory), d(f.lock)}
}

var scaleFull = sizes{10_000, 500, 100_000, 10_000, 10_000, 100_000, 250_000, 1_000}

// bench is what every section shares.
type bench struct {
	bin     string // sessionfs binary, absolute
	work    string // scratch space, removed at the end
	fsKind  string // where the sections' files live (-fs)
	images  string // the tmpfs holding -fs image's images
	data    string // the running section's file system
	keyFile string // holds secret, for the mounts and the CLI
	sz      sizes
	backend backendSizes // the db and cache sections
	rounds  int
	seed    uint64
	dj      *harness.Django
	codec   *codec.Codec
}

func newBench(bin, dir, fsKind string, sz sizes, rounds int, seed uint64) (*bench, func(), error) {
	b := &bench{sz: sz, rounds: max(1, rounds), seed: seed, fsKind: fsKind}
	var err error
	if b.bin, err = filepath.Abs(bin); err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(b.bin); err != nil {
		return nil, nil, fmt.Errorf("%w (run make build first)", err)
	}
	if b.dj, err = harness.FindDjango("3.2"); err != nil {
		return nil, nil, fmt.Errorf("Django 3.2 (install with: %s): %w", harness.InstallHint, err)
	}
	if b.codec, err = codec.New(codec.Config{SecretKey: []byte(secret)}); err != nil {
		return nil, nil, err
	}
	removeDir := func() {}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "sessionfs-bench-"); err != nil {
			return nil, nil, err
		}
		removeDir = func() {
			progress("removing %s", dir)
			os.RemoveAll(dir)
		}
	}
	b.work = dir
	cleanup := func() {
		b.dropFS()
		removeDir()
	}
	b.dropOnSignal(cleanup)
	if err := b.prepareFS(); err != nil {
		cleanup()
		return nil, nil, err
	}
	b.keyFile = filepath.Join(dir, "secret.key")
	if err := os.WriteFile(b.keyFile, []byte(secret), 0o600); err != nil {
		cleanup()
		return nil, nil, err
	}
	return b, cleanup, nil
}

// path is a file or directory on the running section's file system.
func (b *bench) path(name string) string { return filepath.Join(b.data, name) }

// settings are Django's settings for a backing directory.
func (b *bench) settings(dir string) harness.Settings {
	return harness.Settings{SecretKey: secret, SessionFilePath: dir}
}
