package filestore

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// filePerms is the owner, group and permission bits a saved file gets.
//
// Django reads and rewrites its session files as the site's user (often
// www-data), and a file it cannot open is an empty session to it: the user
// is logged out. So a save that replaces a file gives the new version the
// old one's owner, group and permission bits, and is refused when it
// cannot (strict); a sessionfs running as root never leaves a root-owned
// file behind. A new session gets the backing directory's owner and group
// when the process may give them (as root), else it stays the process's
// own with the mode it was created with (0600 less the umask), which is
// what Django's own save by this user would have made.
type filePerms struct {
	uid, gid uint32
	mode     uint32 // permission bits to set; 0 keeps the mode the file was created with
	strict   bool   // the owner and group must be kept: fail rather than save otherwise
}

// keptPerm is the part of an existing file's mode a new version keeps:
// the permission bits, less write permission for others (a save never
// leaves a session anyone may rewrite) and less set-id and sticky bits.
const keptPerm = 0o775

// permsOfStat is what a new version of the file st describes must keep.
func permsOfStat(st *unix.Stat_t) filePerms {
	return filePerms{uid: st.Uid, gid: st.Gid, mode: st.Mode & keptPerm, strict: true}
}

// newFilePerms is what a new session file gets: the backing directory's
// owner and group, where the process may give them.
func (s *FileStore) newFilePerms() (filePerms, error) {
	var st unix.Stat_t
	if err := unix.Stat(s.cfg.Dir, &st); err != nil {
		return filePerms{}, fmt.Errorf("stat of the session directory: %w", &os.PathError{Op: "stat", Path: s.cfg.Dir, Err: err})
	}
	return filePerms{uid: st.Uid, gid: st.Gid}, nil
}

// apply gives the open file fd these owner, group and permission bits.
// Owner and group come first: a chown may clear mode bits.
func (p filePerms) apply(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if st.Uid != p.uid || st.Gid != p.gid {
		err := unix.Fchown(fd, int(p.uid), int(p.gid))
		switch {
		case err == nil:
		case !p.strict && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL)):
			// Not root (or the owner is unmapped in this user namespace):
			// the file stays the process's, as Django's own save would make it.
		default:
			return fmt.Errorf("keeping the owner (uid %d, gid %d) of the session file: %w (sessionfs runs as uid %d: run it as root or as that user)",
				p.uid, p.gid, err, os.Geteuid())
		}
	}
	if p.mode != 0 && st.Mode&0o7777 != p.mode {
		if err := unix.Fchmod(fd, p.mode); err != nil {
			return fmt.Errorf("keeping the mode %#o of the session file: %w", p.mode, err)
		}
	}
	return nil
}
