package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Equal reports whether two identities name the same file version. ModTime
// is compared with Equal, not ==, so monotonic and location data never matter.
func (id FileID) Equal(other FileID) bool {
	return id.Ino == other.Ino && id.Size == other.Size && id.ModTime.Equal(other.ModTime)
}

// lstatKey returns the identity of key's backing file without following a
// symlink: ErrNotFound when missing, ErrNotRegular for anything but a file.
func (s *FileStore) lstatKey(key string) (FileID, error) {
	st, err := s.lstatRaw(key)
	if err != nil && !errors.Is(err, ErrNotRegular) {
		return FileID{}, err
	}
	return statID(&st), err
}

// lstatRaw is lstatKey's stat result: zero with the error when there is
// no file, filled in when the error is ErrNotRegular.
func (s *FileStore) lstatRaw(key string) (unix.Stat_t, error) {
	var st unix.Stat_t
	for {
		err := unix.Lstat(s.path(key), &st)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return unix.Stat_t{}, s.pathError("stat", key, &os.PathError{Op: "lstat", Path: s.path(key), Err: err})
		}
		break
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return st, fmt.Errorf("session %s: %w (%s)", key, ErrNotRegular, fileType(st.Mode))
	}
	return st, nil
}

// statID is the identity in a stat result.
func statID(st *unix.Stat_t) FileID {
	return FileID{Ino: st.Ino, Size: st.Size, ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec)}
}

// pathError wraps an error of a file operation on key's backing file,
// turning a missing file into ErrNotFound.
func (s *FileStore) pathError(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("session %s: %w", key, ErrNotFound)
	}
	return fmt.Errorf("session %s: %s: %w", key, op, err)
}

// readRaw reads key's backing file safely: never through a symlink
// (O_NOFOLLOW), never blocking on a fifo (O_NONBLOCK), only a regular file
// (checked on the open descriptor, so the file read is the file checked) and
// at most MaxFileSize bytes. The FileID comes from the same descriptor, and
// exactly the size it records is read, so it describes the bytes returned
// even if Django renames a new version over the name meanwhile. Raw system
// calls keep a read to open, fstat, read, close: a Scan does this per file.
func (s *FileStore) readRaw(key string) ([]byte, FileID, error) {
	var st unix.Stat_t
	return s.readRawStat(key, &st)
}

// readRawStat is readRaw also filling st with the descriptor's stat result.
func (s *FileStore) readRawStat(key string, st *unix.Stat_t) ([]byte, FileID, error) {
	fd, err := openNoFollow(s.path(key))
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, FileID{}, fmt.Errorf("session %s: %w (symlink, not followed)", key, ErrNotRegular)
		}
		if errors.Is(err, unix.ENXIO) {
			// A socket cannot be opened at all: say what it is, as fstat
			// does for a fifo or a device.
			if id, lerr := s.lstatKey(key); errors.Is(lerr, ErrNotRegular) {
				return nil, id, lerr
			}
		}
		return nil, FileID{}, s.pathError("open", key, &os.PathError{Op: "open", Path: s.path(key), Err: err})
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, st); err != nil {
		return nil, FileID{}, s.pathError("fstat", key, err)
	}
	id := statID(st)
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, id, fmt.Errorf("session %s: %w (%s)", key, ErrNotRegular, fileType(st.Mode))
	}
	if st.Size > s.cfg.MaxFileSize {
		return nil, id, fmt.Errorf("session %s: %w: %d bytes (limit %d)", key, ErrTooLarge, st.Size, s.cfg.MaxFileSize)
	}
	data := make([]byte, st.Size)
	for n := 0; n < len(data); {
		m, err := unix.Read(fd, data[n:])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, id, s.pathError("read", key, err)
		case m == 0:
			// Truncated in place after fstat: not how Django writes, and
			// not the version the FileID describes.
			return nil, id, fmt.Errorf("session %s: file shrank while being read", key)
		}
		n += m
	}
	return data, id, nil
}

// openNoFollow opens path read-only without following a final symlink and
// without blocking on a fifo, retrying when a signal interrupts.
func openNoFollow(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// fileType names the kind of a non-regular file for error messages.
func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "device"
	}
	return fmt.Sprintf("mode %#o", mode&unix.S_IFMT)
}
