package filestore

import (
	"context"
	"github.com/sessionfs/sessionfs/store"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store/change"
)

// siteUID and siteGID stand for the web server's user (Debian's nobody and
// nogroup), other than the root these tests run as.
const siteUID, siteGID = 65534, 65534

// requireRoot skips t unless it may chown files (fails it under CI=true).
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing prerequisite (CI=true, not skipping): root, to give files another owner")
	}
	t.Skip("missing prerequisite: root, to give files another owner")
}

// ownerOf is the owner, group and permission bits of path itself.
func ownerOf(t *testing.T, path string) (uid, gid, perm uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid, st.Mode & 0o7777
}

func wantOwner(t *testing.T, what, path string, uid, gid, perm uint32) {
	t.Helper()
	if u, g, p := ownerOf(t, path); u != uid || g != gid || p != perm {
		t.Errorf("%s: owner %d:%d mode %#o, want %d:%d mode %#o", what, u, g, p, uid, gid, perm)
	}
}

// siteStore is a store over a directory owned by the site's user, as a
// production SESSION_FILE_PATH is, used by root.
func siteStore(t *testing.T) *FileStore {
	t.Helper()
	requireRoot(t)
	s, _ := newTestStore(t)
	if err := os.Chown(s.cfg.Dir, siteUID, siteGID); err != nil {
		t.Fatal(err)
	}
	return s
}

// siteFile saves key as the site would have: owned by its user, mode perm.
func siteFile(t *testing.T, s *FileStore, key, sessionJSON string, perm os.FileMode) {
	t.Helper()
	save(t, s, key, sessionJSON)
	if err := os.Chown(s.path(key), siteUID, siteGID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.path(key), perm); err != nil {
		t.Fatal(err)
	}
}

func TestSaveKeepsOwnerGroupAndMode(t *testing.T) {
	s := siteStore(t)
	ctx := context.Background()
	const key = "ownedbysite01"
	siteFile(t, s, key, `{"v":1}`, 0o640)

	save(t, s, key, `{"v":2}`)
	wantOwner(t, "after a save", s.path(key), siteUID, siteGID, 0o640)

	setMtime(t, s.path(key), time.Now().Add(-time.Hour))
	if _, err := s.Save(ctx, key, []byte(`{"v":3}`), store.SaveOptions{KeepExpiry: true}); err != nil {
		t.Fatal(err)
	}
	wantOwner(t, "after a save keeping the mtime", s.path(key), siteUID, siteGID, 0o640)

	// Write permission for others is never passed on; set-id bits neither.
	if err := os.Chmod(s.path(key), 0o666|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	save(t, s, key, `{"v":4}`)
	wantOwner(t, "after a save over a world-writable file", s.path(key), siteUID, siteGID, 0o664)
	assertNoTempFiles(t, s)
}

func TestNewSessionGetsDirectoryOwner(t *testing.T) {
	s := siteStore(t)
	ctx := context.Background()
	for _, opt := range []store.SaveOptions{{MustCreate: true}, {}} {
		key := "newmustcreate"
		if !opt.MustCreate {
			key = "newbyputsave1"
		}
		// The placeholder a must-create save makes is Django's to open
		// from the start.
		s.hooks.beforeRename = func(string) error {
			if opt.MustCreate {
				wantOwner(t, "placeholder", s.path(key), siteUID, siteGID, 0o600)
			}
			return nil
		}
		if _, err := s.Save(ctx, key, []byte(`{"new":true}`), opt); err != nil {
			t.Fatal(err)
		}
		wantOwner(t, "new session "+key, s.path(key), siteUID, siteGID, 0o600)
	}
	assertNoTempFiles(t, s)
}

func TestRenameAndRekeyKeepOwner(t *testing.T) {
	s := siteStore(t)
	ctx := context.Background()
	pickle := storeWithEncode(t, s, codec.EncodeOptions{Serializer: codec.SerializerPickle})
	const key, renamed = "rekeyedbysite", "renamedbysite"
	save(t, pickle, key, `{"a":1}`)
	if err := os.Chown(s.path(key), siteUID, siteGID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.path(key), 0o640); err != nil {
		t.Fatal(err)
	}
	res, err := change.Rekey(ctx, s, change.RekeyOptions{}, change.Audit{}, nil)
	if err != nil || res.Rekeyed != 1 {
		t.Fatalf("Rekey: %+v %v, want one session rekeyed", res, err)
	}
	wantOwner(t, "after rekey", s.path(key), siteUID, siteGID, 0o640)

	// A re-keyed session keeps its file's owner and mode, not the
	// directory's defaults, from the placeholder on.
	if err := os.Chown(s.path(key), siteUID, 0); err != nil {
		t.Fatal(err)
	}
	s.hooks.beforeRename = func(string) error {
		wantOwner(t, "placeholder of the re-keyed session", s.path(renamed), siteUID, 0, 0o640)
		return nil
	}
	if _, err := s.Rename(ctx, key, renamed); err != nil {
		t.Fatal(err)
	}
	wantOwner(t, "after rename", s.path(renamed), siteUID, 0, 0o640)
	assertNoTempFiles(t, s)
}
