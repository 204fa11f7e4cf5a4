package fusefs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOwnerAndUmask: the mount presents its files with the owner and the
// permission bits it is given (--uid, --gid, --umask); by default only the
// owner may enter. Editor and temp files keep their creator and mode.
func TestOwnerAndUmask(t *testing.T) {
	umask := uint32(0o027)
	for _, c := range []struct {
		name                      string
		opt                       Options
		uid, gid                  uint32
		root, session, view, stat uint32
	}{
		{"default", Options{}, uint32(os.Getuid()), uint32(os.Getgid()), 0o700, 0o600, 0o700, 0o400},
		{"uid-gid-umask", Options{UID: 1234, GID: 5678, Umask: &umask}, 1234, 5678, 0o750, 0o640, 0o750, 0o440},
	} {
		t.Run(c.name, func(t *testing.T) {
			store, _ := opsFixture(t)
			mnt := mountReal(t, store, c.opt)
			for _, f := range []struct {
				path string
				mode uint32
			}{
				{mnt, syscall.S_IFDIR | c.root},
				{filepath.Join(mnt, keyU7+".json"), syscall.S_IFREG | c.session},
				{filepath.Join(mnt, viewByUser), syscall.S_IFDIR | c.view},
				{filepath.Join(mnt, viewByUser, "7", keyU7+".json"), syscall.S_IFREG | c.session},
				{filepath.Join(mnt, viewExpired, keyOld+".json"), syscall.S_IFREG | c.stat},
				{filepath.Join(mnt, viewStats), syscall.S_IFREG | c.stat},
			} {
				var st syscall.Stat_t
				if err := syscall.Stat(f.path, &st); err != nil {
					t.Errorf("stat %s: %v", f.path, err)
					continue
				}
				if st.Mode != f.mode || st.Uid != c.uid || st.Gid != c.gid {
					t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", filepath.Base(f.path), st.Mode, st.Uid, st.Gid, f.mode, c.uid, c.gid)
				}
			}
			// A scratch file is its creator's, with the mode it was made with.
			scratch := filepath.Join(mnt, "sedXYZ")
			if err := os.WriteFile(scratch, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(scratch, 0o604); err != nil {
				t.Fatal(err)
			}
			var st syscall.Stat_t
			if err := syscall.Stat(scratch, &st); err != nil {
				t.Fatal(err)
			}
			if st.Uid != uint32(os.Getuid()) || st.Gid != uint32(os.Getgid()) || st.Mode != syscall.S_IFREG|0o604 {
				t.Errorf("scratch file: mode %o owner %d:%d", st.Mode, st.Uid, st.Gid)
			}
			os.Remove(scratch)
		})
	}
}

// TestWritingAViewIsEACCES: the read-only files of the views refuse an open
// for writing with EACCES, as any read-only file does (and as the kernel
// itself answers with --allow-other's default_permissions); changing them
// otherwise is EPERM.
func TestWritingAViewIsEACCES(t *testing.T) {
	st, _ := opsFixture(t)
	mnt := mountReal(t, st, Options{})
	for _, name := range []string{viewStats, filepath.Join(viewExpired, keyOld+".json"), filepath.Join(viewInvalid, keyCorrupt)} {
		p := filepath.Join(mnt, name)
		_, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
		wantErrno(t, "open "+name+" for writing", err, syscall.EACCES)
		wantErrno(t, "truncate "+name, os.Truncate(p, 0), syscall.EPERM)
	}
}
