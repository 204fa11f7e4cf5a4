package main

// Files a user names (in a flag, an environment variable or an argument)
// are read by one function: a regular file, of bounded size, that can
// neither block the process nor exhaust its memory.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/sessionfs/sessionfs/internal/filekind"
)

// maxSettingFile bounds a file holding settings (the secret key, the
// fallback keys): a key is tens of bytes, a thousand fallbacks fit.
const maxSettingFile = 64 << 10

// errFileTooLarge is a user-named file over its bound.
var errFileTooLarge = errors.New("file too large")

// readUserFile reads the file at path, which what names in messages ("secret
// key file"). Symlinks are followed (a Kubernetes secret is one), but the
// file they end at must be a regular file: a fifo, a device or a directory
// is refused before it is opened, and checked again on the open descriptor,
// which is opened non-blocking so a fifo swapped in meanwhile cannot hang
// the read. More than limit bytes is errFileTooLarge. Errors name the file,
// never its content.
func readUserFile(what, path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if err := regularFile(what, path, fi); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if err := regularFile(what, path, fi); err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s %s: %w: %d bytes, over the limit of %d", what, path, errFileTooLarge, fi.Size(), limit)
	}
	// Files such as /proc's report size 0 and can grow: the read is
	// bounded by itself.
	b, err := readBounded(f, limit)
	if errors.Is(err, errFileTooLarge) {
		return nil, fmt.Errorf("%s %s: %w: over the limit of %d bytes", what, path, errFileTooLarge, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	return b, nil
}

// regularFile refuses anything but a regular file.
func regularFile(what, path string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("%s %s is not a regular file (%s)", what, path, filekind.Name(fi.Mode()))
}

// readBounded reads r to its end, or fails with errFileTooLarge past limit
// bytes, having read at most limit+1.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errFileTooLarge
	}
	return b, nil
}
