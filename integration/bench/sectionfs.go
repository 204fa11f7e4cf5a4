package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Where the sections write their sessions (-fs). A section writes up to a
// million files; on the host's disk their writeback swung timings between
// runs and deleting them took minutes. So by default every section gets a
// file system of its own that lives in memory and is dropped whole when the
// section ends.
const (
	// fsImage: an ext4 image in a private tmpfs, loop-mounted: the file
	// system Django hosts use (default 4 KiB blocks: with 1 KiB ones the
	// two-level directory index holds only a few hundred thousand names),
	// with its journal, directory index, unlink and fsync costs, none of it
	// waiting on a disk.
	fsImage = "image"
	// fsTmpfs: a tmpfs (no journal; fsync costs nothing).
	fsTmpfs = "tmpfs"
	// fsDir: the work directory's own file system, cleared at the end (no
	// root needed).
	fsDir = "dir"
)

// fsKinds describes the -fs values for the flag's help and the footer.
var fsKinds = map[string]string{
	fsImage: "each section on its own ext4 image in a private tmpfs, loop-mounted and dropped after the section",
	fsTmpfs: "each section on its own tmpfs, dropped after the section",
	fsDir:   "the work directory's file system",
}

// maxFiles is the most files one section holds at once: the 1M listing, or
// gc's and the saves' copies of their sessions.
func (s sizes) maxFiles() int {
	return max(s.memory, 5*s.gc, 7*s.save, 2*s.list, 2*s.cat, 2*s.lock, 1000)
}

// prepareFS checks that -fs can work here and, for images, mounts the
// tmpfs that holds them.
func (b *bench) prepareFS() error {
	if _, ok := fsKinds[b.fsKind]; !ok {
		return fmt.Errorf("unknown -fs %q (want image, tmpfs or dir)", b.fsKind)
	}
	if b.fsKind == fsDir {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("-fs %s mounts a file system per section and needs root; -fs dir runs on the work directory's own", b.fsKind)
	}
	if b.fsKind == fsImage {
		b.images = filepath.Join(b.work, "images")
		if err := mountTmpfs(b.images, 0); err != nil {
			return err
		}
	}
	return nil
}

// enterSection gives the section name a fresh file system at b.data.
func (b *bench) enterSection(name string) error {
	b.data = filepath.Join(b.work, "fs-"+name)
	if err := os.MkdirAll(b.data, 0o700); err != nil {
		return err
	}
	files := b.sz.maxFiles()
	switch b.fsKind {
	case fsTmpfs:
		return mountTmpfs(b.data, files+files/5+10_000)
	case fsImage:
		img := filepath.Join(b.images, name+".img")
		inodes := files + files/5 + 10_000
		// Sparse: only the blocks written take memory. Room for every
		// inode's file in a block, the inode itself, and the journal.
		size := int64(inodes)*5<<10 + 256<<20
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			return err
		}
		if err := os.Truncate(img, size); err != nil {
			return err
		}
		// Lazy table initialisation keeps mkfs instant, and noinit_itable
		// keeps the kernel from zeroing the inode tables into the tmpfs
		// afterwards.
		if err := run("mkfs.ext4", "-q", "-F", "-N", fmt.Sprint(inodes),
			"-E", "lazy_itable_init=1,lazy_journal_init=1", img); err != nil {
			return err
		}
		return run("mount", "-o", "loop,noinit_itable", img, b.data)
	}
	return nil
}

// inSection runs f with a fresh file system at b.data, dropped afterwards.
func (b *bench) inSection(name string, f func() ([]row, error)) ([]row, error) {
	if err := b.enterSection(name); err != nil {
		return nil, fmt.Errorf("a file system for the section: %w", err)
	}
	rows, err := f()
	if leaveErr := b.leaveSection(name); err == nil && leaveErr != nil {
		err = fmt.Errorf("dropping the section's file system: %w", leaveErr)
	}
	return rows, err
}

func fsHelp() string {
	return fsImage + " (" + fsKinds[fsImage] + "), " + fsTmpfs + " or " + fsDir + " (" + fsKinds[fsDir] + ")"
}

// leaveSection drops the section's file system whole (a tmpfs or image
// unmounts in a moment, where unlinking its files took minutes). With -fs
// dir the files stay until the end, after the table.
func (b *bench) leaveSection(name string) error {
	if b.fsKind == fsDir {
		return nil
	}
	err := unmount(b.data)
	if b.fsKind == fsImage {
		if rmErr := os.Remove(filepath.Join(b.images, name+".img")); err == nil {
			err = rmErr
		}
	}
	return err
}

// dropFS unmounts what prepareFS mounted; the work directory is removed
// after it.
func (b *bench) dropFS() {
	if b.images != "" {
		if err := unmount(b.images); err != nil {
			progress("%v", err)
		}
	}
}

// dropOnSignal makes an interrupted run (Ctrl-C, a closed pipe) leave no
// mounts behind: an image holds gigabytes of memory until unmounted. It
// detaches every mount under the work directory, innermost first, and
// runs cleanup.
func (b *bench) dropOnSignal(cleanup func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		s := <-sig
		progress("%v: dropping the mounts under %s", s, b.work)
		mounts, err := os.ReadFile("/proc/self/mounts")
		if err != nil {
			progress("%v", err)
		}
		var under []string
		for _, line := range strings.Split(string(mounts), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], b.work+"/") {
				under = append(under, f[1])
			}
		}
		sort.Slice(under, func(i, j int) bool { return len(under[i]) > len(under[j]) })
		for _, dir := range under {
			if err := run("umount", "-l", dir); err != nil {
				progress("%v", err)
			}
		}
		b.images = "" // detached above
		cleanup()
		os.Exit(1)
	}()
}

func mountTmpfs(dir string, inodes int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	opts := "mode=0700"
	if inodes > 0 {
		opts += fmt.Sprintf(",nr_inodes=%d", inodes)
	}
	return run("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir)
}

// unmount unmounts dir; when something still uses it (a section that failed
// half-way), it detaches it lazily so that the run can end.
func unmount(dir string) error {
	if err := run("umount", dir); err != nil {
		if lazyErr := run("umount", "-l", dir); lazyErr != nil {
			return fmt.Errorf("%w; lazily: %w", err, lazyErr)
		}
		return err
	}
	return nil
}

func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
