package filestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sessionfs/sessionfs/store"
)

// fileID identifies one version of a session file. It changes whenever
// Django (or anyone) rewrites the file: the temp-file-and-rename path gives
// a new inode. It is what the file backend packs in a store.Version.
type fileID struct {
	ino     uint64
	size    int64
	modTime time.Time
}

// version packs id as the contract's opaque Version: inode, size and the
// mtime in nanoseconds, so equal Versions are equal file identities.
func (id fileID) version() store.Version {
	var v store.Version
	binary.LittleEndian.PutUint64(v[0:], id.ino)
	binary.LittleEndian.PutUint64(v[8:], uint64(id.size))
	binary.LittleEndian.PutUint64(v[16:], uint64(id.modTime.UnixNano()))
	return v
}

// unpackVersion is the fileID a Version of this store packs.
func unpackVersion(v store.Version) fileID {
	return fileID{
		ino:     binary.LittleEndian.Uint64(v[0:]),
		size:    int64(binary.LittleEndian.Uint64(v[8:])),
		modTime: time.Unix(0, int64(binary.LittleEndian.Uint64(v[16:]))),
	}
}

// meta is the Meta of an undecoded version: key and file identity.
func (id fileID) meta(key string) store.Meta {
	return store.Meta{Key: key, Version: id.version(), RawSize: id.size, ModTime: id.modTime}
}

// lstatKey returns the identity of key's backing file without following a
// symlink: store.ErrNotFound when missing, store.ErrNotRegular for anything but a file.
func (s *FileStore) lstatKey(key string) (fileID, error) {
	st, err := s.lstatRaw(key)
	if err != nil && !errors.Is(err, store.ErrNotRegular) {
		return fileID{}, err
	}
	return statID(&st), err
}

// lstatRaw is lstatKey's stat result: zero with the error when there is
// no file, filled in when the error is store.ErrNotRegular.
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
		return st, fmt.Errorf("session %s: %w (%s)", key, store.ErrNotRegular, fileType(st.Mode))
	}
	return st, nil
}

// statID is the identity in a stat result.
func statID(st *unix.Stat_t) fileID {
	return fileID{ino: st.Ino, size: st.Size, modTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec)}
}

// pathError wraps an error of a file operation on key's backing file,
// turning a missing file into store.ErrNotFound.
func (s *FileStore) pathError(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("session %s: %w", key, store.ErrNotFound)
	}
	return fmt.Errorf("session %s: %s: %w", key, op, err)
}

// readRaw reads key's backing file safely: never through a symlink
// (O_NOFOLLOW), never blocking on a fifo (O_NONBLOCK), only a regular file
// (checked on the open descriptor, so the file read is the file checked) and
// at most MaxFileSize bytes (else ErrTooLarge, with the file's identity).
// The fileID comes from the same descriptor, and
// exactly the size it records is read, so it describes the bytes returned
// even if Django renames a new version over the name meanwhile. Raw system
// calls keep a read to open, fstat, read, close: a Scan does this per file.
func (s *FileStore) readRaw(key string) ([]byte, fileID, error) {
	var st unix.Stat_t
	return s.readRawStat(key, &st)
}

// readRawStat is readRaw also filling st with the descriptor's stat result.
func (s *FileStore) readRawStat(key string, st *unix.Stat_t) ([]byte, fileID, error) {
	fd, id, err := s.openKey(key)
	if err != nil {
		return nil, id, err
	}
	defer unix.Close(fd)
	return s.readFd(key, fd, st)
}

// openKey opens key's backing file as readRaw does (never through a
// symlink, never blocking on a fifo). What cannot be opened as a file is
// ErrNotRegular with its identity: a symlink, or a socket (ENXIO before
// fstat can tell, as it does for a fifo or a device).
func (s *FileStore) openKey(key string) (int, fileID, error) {
	fd, err := openNoFollow(s.path(key))
	switch {
	case err == nil:
		return fd, fileID{}, nil
	case errors.Is(err, unix.ELOOP):
		return -1, fileID{}, fmt.Errorf("session %s: %w (symlink, not followed)", key, store.ErrNotRegular)
	case errors.Is(err, unix.ENXIO):
		if id, lerr := s.lstatKey(key); errors.Is(lerr, store.ErrNotRegular) {
			return -1, id, lerr
		}
	}
	return -1, fileID{}, s.pathError("open", key, &os.PathError{Op: "open", Path: s.path(key), Err: err})
}

// readFd is readRawStat's work on the open descriptor fd of key's file.
func (s *FileStore) readFd(key string, fd int, st *unix.Stat_t) ([]byte, fileID, error) {
	if err := unix.Fstat(fd, st); err != nil {
		return nil, fileID{}, s.pathError("fstat", key, err)
	}
	id := statID(st)
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, id, fmt.Errorf("session %s: %w (%s)", key, store.ErrNotRegular, fileType(st.Mode))
	}
	if st.Size > s.cfg.MaxFileSize {
		return nil, id, fmt.Errorf("session %s: %w: %d bytes (limit %d)", key, store.ErrTooLarge, st.Size, s.cfg.MaxFileSize)
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
			// not the version the fileID describes.
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
