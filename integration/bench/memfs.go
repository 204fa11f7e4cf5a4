package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// The in-memory floor: the cheapest FUSE file system there is, a go-fuse
// file system holding every file in memory, serving the same bytes under
// the same names as the mount. What it costs is what FUSE itself costs on
// this machine, with no disk and no decoding. It runs as its own process
// (this program, re-executed with memfsCommand), as a sessionfs mount does.

// memfsCommand, as the first argument, makes this program serve a memfs.
const memfsCommand = "serve-memfs"

// memfsCached: the kernel keeps pages (FOPEN_KEEP_CACHE) and names and
// attributes for an hour; otherwise direct I/O and zero timeouts.
type memfsMode bool

const (
	memfsUncached memfsMode = false
	memfsCached   memfsMode = true
)

func (m memfsMode) String() string {
	if m == memfsCached {
		return "in-memory go-fuse fs, page cache + 1 h timeouts"
	}
	return "in-memory go-fuse fs, direct I/O + 0 s timeouts"
}

// memFile is one read-only file.
type memFile struct {
	fs.Inode
	data  []byte
	flags uint32 // the FOPEN_* of every open
}

var (
	_ fs.NodeGetattrer = (*memFile)(nil)
	_ fs.NodeOpener    = (*memFile)(nil)
	_ fs.NodeReader    = (*memFile)(nil)
)

func (f *memFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o400
	out.Size = uint64(len(f.data))
	return 0
}

func (f *memFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EROFS
	}
	return nil, f.flags, 0
}

func (f *memFile) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(f.data)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(f.data[off:min(int64(len(f.data)), off+int64(len(dest)))]), 0
}

// memRoot holds every file, added when the mount starts.
type memRoot struct {
	fs.Inode
	files map[string][]byte
	flags uint32
}

func (r *memRoot) OnAdd(ctx context.Context) {
	for name, data := range r.files {
		child := r.NewPersistentInode(ctx, &memFile{data: data, flags: r.flags}, fs.StableAttr{Mode: syscall.S_IFREG})
		r.AddChild(name, child, false)
	}
	r.files = nil
}

// serveMemfs is `bench serve-memfs [-cached] SRC MNT`: it reads every file
// of SRC into memory, mounts them at MNT, prints "memfs: mounted" and
// serves until unmounted or signalled.
func serveMemfs(args []string) int {
	flags := flag.NewFlagSet(memfsCommand, flag.ContinueOnError)
	cached := flags.Bool("cached", false, "page cache and 1 h timeouts instead of direct I/O and 0 s timeouts")
	if err := flags.Parse(args); err != nil || flags.NArg() != 2 {
		fmt.Fprintf(os.Stderr, "usage: bench %s [-cached] SRC MNT\n", memfsCommand)
		return 2
	}
	src, mnt := flags.Arg(0), flags.Arg(1)
	entries, err := os.ReadDir(src)
	if err != nil {
		fmt.Fprintln(os.Stderr, "memfs:", err)
		return 1
	}
	root := &memRoot{files: make(map[string][]byte, len(entries)), flags: fuse.FOPEN_DIRECT_IO}
	for _, e := range entries {
		if root.files[e.Name()], err = os.ReadFile(filepath.Join(src, e.Name())); err != nil {
			fmt.Fprintln(os.Stderr, "memfs:", err)
			return 1
		}
	}
	timeout := time.Duration(0)
	if *cached {
		timeout, root.flags = time.Hour, fuse.FOPEN_KEEP_CACHE
	}
	server, err := fs.Mount(mnt, root, &fs.Options{
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
		// As a sessionfs mount: no extended attributes (ENOSYS once, and
		// `ls -l` stops asking for every file), mount(2) itself as root.
		MountOptions: fuse.MountOptions{FsName: "bench-memfs", Name: "memfs", DisableXAttrs: true, DirectMount: os.Geteuid() == 0},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "memfs: mount:", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		server.Unmount()
	}()
	fmt.Println("memfs: mounted")
	server.Wait()
	return 0
}

// mountMemfs serves the files of src (what the mount shows, byte for
// byte) from memory at a new mount point.
func (b *bench) mountMemfs(src string, mode memfsMode) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	argv := []string{self, memfsCommand}
	name := "mnt-memfs"
	if mode == memfsCached {
		argv, name = append(argv, "-cached"), name+"-cached"
	}
	mnt := b.path(name)
	return b.startServer(append(argv, src, mnt), "memfs: mounted", mnt, []string{"fusermount3", "-u", mnt})
}

// sameFiles checks that the first n files of want (sorted names) read the
// same through got: a floor serving other bytes would be no floor.
func sameFiles(want, got string, n int) error {
	entries, err := os.ReadDir(want)
	if err != nil {
		return err
	}
	for _, e := range entries[:min(n, len(entries))] {
		out, err := exec.Command("cmp", filepath.Join(want, e.Name()), filepath.Join(got, e.Name())).CombinedOutput()
		if err != nil {
			return fmt.Errorf("the in-memory floor serves other bytes than the mount: %v: %s", err, out)
		}
	}
	return nil
}
