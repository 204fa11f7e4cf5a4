package filestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sessionfs/sessionfs/store"
)

// removeAttempts bounds how often RemoveIf re-reads a session that Django
// rewrote between the read and the unlink. A logged-in user's browser can
// save the session on every request, so one retry is not always enough.
const removeAttempts = 5

// RemoveIf deletes key's backing file if match accepts what it holds, and
// returns exactly the bytes deleted: the file is read, judged, and unlinked
// only while it is still that version, so a session Django rewrote
// meanwhile is judged again (up to removeAttempts times, then ErrConflict).
// A file over Config.MaxFileSize is judged unread (Entry.Err wraps
// ErrTooLarge; Removal.Raw is nil). A missing file is Removal{Removed:
// false} and no error. A symlink, directory or fifo is never removed
// (ErrNotRegular). With dryRun nothing is deleted.
func (s *FileStore) RemoveIf(ctx context.Context, key string, dryRun bool, match func(store.Entry) bool) (store.Removal, error) {
	if err := s.checkKey(key); err != nil {
		return store.Removal{}, err
	}
	for range removeAttempts {
		if err := ctx.Err(); err != nil {
			return store.Removal{}, err
		}
		data, id, err := s.readRaw(key)
		var r store.Removal
		switch {
		case errors.Is(err, store.ErrNotFound):
			return store.Removal{Entry: store.Entry{Meta: store.Meta{Key: key}}}, nil
		case errors.Is(err, store.ErrTooLarge):
			r.Entry = store.Entry{Meta: id.meta(key), Err: err}
		case err != nil:
			return store.Removal{Entry: store.Entry{Meta: id.meta(key), Err: err}}, err
		default:
			sessionJSON, meta, decErr := s.decodeFile(key, id, data)
			r = store.Removal{Entry: store.Entry{Meta: meta, Err: decErr}, JSON: sessionJSON, Raw: data}
		}
		if r.Judge(match, dryRun) {
			return r, nil
		}
		removed, err := s.deleteIfUnchanged(key, id.version())
		if err != nil {
			return r, err
		}
		if removed {
			r.Removed = true
			return r, nil
		}
		// Rewritten (or removed) since read: look again.
	}
	return store.Removal{Entry: store.Entry{Meta: store.Meta{Key: key}}},
		fmt.Errorf("session %s: %w (rewritten %d times while removing it)", key, store.ErrConflict, removeAttempts)
}

// deleteIfUnchanged removes key's backing file only while it is still
// version v, so a session Django rewrote meanwhile is kept. It reports
// whether the file was removed.
func (s *FileStore) deleteIfUnchanged(key string, v store.Version) (bool, error) {
	s.cache.invalidate(key)
	cur, err := s.lstatKey(key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if cur.version() != v {
		return false, nil
	}
	if err := os.Remove(s.path(key)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, s.pathError("remove", key, err)
	}
	return true, nil
}

// Renew sets the backing file's mtime to at, which renews an mtime-based
// expiry as a Django save at that time would; the content is unchanged.
// The file is opened (never through a symlink), checked against ifMatch,
// changed and read on one descriptor, so Saved describes the version
// renewed even if Django renames a new one over the name meanwhile.
func (s *FileStore) Renew(ctx context.Context, key string, at time.Time, ifMatch store.Version) (store.Saved, error) {
	if err := s.checkKey(key); err != nil {
		return store.Saved{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.Saved{}, err
	}
	s.cache.invalidate(key)
	fd, _, err := s.openKey(key)
	if err != nil {
		return store.Saved{}, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return store.Saved{}, s.pathError("fstat", key, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return store.Saved{}, fmt.Errorf("session %s: %w (%s)", key, store.ErrNotRegular, fileType(st.Mode))
	}
	if !ifMatch.IsZero() && statID(&st).version() != ifMatch {
		return store.Saved{}, fmt.Errorf("session %s: %w", key, store.ErrConflict)
	}
	if err := futimens(fd, at); err != nil {
		return store.Saved{}, s.pathError("set mtime", key, err)
	}
	data, id, err := s.readFd(key, fd, &st)
	if err != nil {
		return store.Saved{}, fmt.Errorf("session %s renewed, but reading it: %w", key, err)
	}
	sessionJSON, meta, err := s.decodeFile(key, id, data)
	if err != nil {
		// Renewed all the same: what it holds is the caller's to judge.
		meta = id.meta(key)
	}
	s.remember(key, meta, err)
	return store.Saved{Session: store.Session{Meta: meta, JSON: sessionJSON}, Raw: data, Before: data}, nil
}

// Rename re-keys a session: the backing file's bytes (not re-encoded, so a
// session signed with a fallback key stays readable) are saved under to
// with must-create semantics and the file's mtime, owner and mode, then
// from is deleted.
// Some file holds the session at every moment. If from changes between the
// copy and the delete, the copy is withdrawn and ErrConflict returned.
func (s *FileStore) Rename(ctx context.Context, from, to string) (store.Saved, error) {
	if err := s.checkKey(from); err != nil {
		return store.Saved{}, err
	}
	if err := s.checkKey(to); err != nil {
		return store.Saved{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.Saved{}, err
	}
	var st unix.Stat_t
	data, id, err := s.readRawStat(from, &st)
	if err != nil {
		return store.Saved{}, err
	}
	if from == to {
		sessionJSON, meta, _ := s.decodeFile(from, id, data)
		return store.Saved{Session: store.Session{Meta: meta, JSON: sessionJSON}, Raw: data}, nil
	}
	perms := permsOfStat(&st)
	w, err := s.writeFile(to, data, writeOptions{mustCreate: true, modTime: id.modTime}, &perms)
	if err != nil {
		return store.Saved{}, err
	}
	removed, err := s.deleteIfUnchanged(from, id.version())
	if err != nil || !removed {
		if _, rmErr := s.deleteIfUnchanged(to, w.id.version()); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
		if err == nil {
			err = fmt.Errorf("session %s: %w (renaming to %s)", from, store.ErrConflict, to)
		}
		return store.Saved{}, err
	}
	sessionJSON, meta, decErr := s.decodeFile(to, w.id, data)
	if decErr != nil {
		meta = w.id.meta(to)
	}
	s.remember(to, meta, decErr)
	return store.Saved{Session: store.Session{Meta: meta, JSON: sessionJSON}, Raw: data, Created: true}, nil
}
