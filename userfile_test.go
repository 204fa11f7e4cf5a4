package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadUserFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(target, name string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := write("key", []byte("secret\n"))
	// Kubernetes mounts a secret as a symlink to a symlink to the file.
	link(key, "..data")
	k8s := link(filepath.Join(dir, "..data"), "k8s-key")
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	for _, p := range []string{key, k8s} {
		if b, err := readUserFile("secret key file", p, 64); err != nil || string(b) != "secret\n" {
			t.Errorf("readUserFile(%s) = %q, %v", p, b, err)
		}
	}
	if b, err := readUserFile("secret key file", write("limit", make([]byte, 64)), 64); err != nil || len(b) != 64 {
		t.Errorf("a file of exactly the limit: %d bytes, %v", len(b), err)
	}
	for _, c := range []struct{ name, path, want string }{
		{"fifo", fifo, "is not a regular file (a fifo)"},
		{"symlink to a fifo", link(fifo, "fifo-link"), "is not a regular file (a fifo)"},
		{"socket", sock, "is not a regular file (a socket)"},
		{"/dev/zero", "/dev/zero", "is not a regular file (a device)"},
		{"symlink to /dev/zero", link("/dev/zero", "zero-link"), "is not a regular file (a device)"},
		{"directory", dir, "is not a regular file (a directory)"},
		{"missing", filepath.Join(dir, "missing"), "no such file or directory"},
		{"dangling symlink", link(filepath.Join(dir, "missing"), "dangling"), "no such file or directory"},
		{"over the limit", write("big", []byte(strings.Repeat("s", 65))), "file too large: 65 bytes, over the limit of 64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			b, err := readUserFile("secret key file", c.path, 64)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "secret key file") ||
				!strings.Contains(err.Error(), c.path) {
				t.Errorf("readUserFile(%s) = %q, %v; want an error naming the file and %q", c.path, b, err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "ssss") {
				t.Errorf("the error quotes the file's content: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("readUserFile(%s) took %v", c.path, d)
			}
		})
	}
	// A file whose size says nothing (/proc) is bounded by the read.
	if _, err := readUserFile("input file", "/proc/self/maps", 16); !errors.Is(err, errFileTooLarge) {
		t.Errorf("/proc/self/maps over a 16-byte limit: %v, want errFileTooLarge", err)
	}
}
