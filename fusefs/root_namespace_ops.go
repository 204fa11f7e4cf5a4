package fusefs

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
)

// Create - FUSE call. A session name creates that session at the first
// commit (Django's must-create: an existing key with O_EXCL is EEXIST);
// any other name is a scratch file.
func (d *rootDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (_ *fs.Inode, _ fs.FileHandle, _ uint32, status syscall.Errno) {
	if d.opt.ReadOnly {
		return nil, nil, 0, syscall.EROFS
	}
	if d.isView(name) {
		return nil, nil, 0, d.refuseView("create", name)
	}
	key, isSession := sessionKey(name)
	if !isSession {
		n, errno := d.createScratch(ctx, name, &scratchEntry{mode: mode & 0o7777}, flags)
		if errno != 0 {
			return nil, nil, 0, errno
		}
		n.entry.attr(&out.Attr)
		return &n.Inode, nil, fuse.FOPEN_DIRECT_IO, 0
	}
	exists, err := d.sessionExists(ctx, key) // validates the key: EINVAL for "Upper.json"
	if err != nil {
		e := d.errno("create", err)
		if e == syscall.EINVAL {
			d.log.Warn("create refused: not a valid session key", "name", name, "err", err)
		}
		return nil, nil, 0, e
	}
	n, errno := d.createSession(ctx, name, key, exists, flags)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	h, errno := n.open(ctx, flags)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if _, e := n.fillAttr(ctx, &out.Attr); e != 0 {
		return nil, nil, 0, e
	}
	return &n.Inode, h, openFlags(h), 0
}

// createSession picks the node a create of key opens, under d.mu.
func (d *rootDir) createSession(ctx context.Context, name, key string, exists bool, flags uint32) (*sessionNode, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	act, pending, errno := d.ns.create(key, exists, flags&syscall.O_EXCL != 0)
	switch {
	case errno != 0:
		return nil, errno
	case act == createOpenPending:
		return pending, 0
	case act == createOpenStored:
		return d.sessionChild(ctx, name, key, store.Meta{}), 0 // the kernel's lookup raced with Django creating the key; a writer opens it: no version
	}
	n := &sessionNode{root: d, key: key, state: newSessionState(act == createReplacing), created: time.Now()}
	d.NewInode(ctx, n, fs.StableAttr{Mode: syscall.S_IFREG})
	d.ns.addPending(key, n)
	return n, 0
}

// sessionExists reports whether anything is stored under key, as Django's
// exists() does: a session that does not decode, or a planted symlink
// under its name, counts. ErrInvalidKey for a key Django would refuse.
func (d *rootDir) sessionExists(ctx context.Context, key string) (bool, error) {
	_, err := d.store.Stat(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case store.Undecodable(err):
		return true, nil
	}
	return false, err
}

// createScratch adds a scratch entry. flags' O_EXCL decides an existing name.
func (d *rootDir) createScratch(ctx context.Context, name string, e *scratchEntry, flags uint32) (*scratchNode, syscall.Errno) {
	e.mtime = time.Now()
	e.uid, e.gid = d.creator(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	opened, errno := d.ns.createScratch(name, e, flags&syscall.O_EXCL != 0)
	if errno == syscall.ENOSPC {
		d.log.Warn("scratch area full", "name", name, "files", len(d.ns.scratch.byName), "max_files", d.ns.scratch.maxFiles, "max_bytes", d.ns.scratch.maxBytes)
	}
	if errno != 0 {
		return nil, errno
	}
	return d.scratchChild(ctx, name, opened), 0
}

// Symlink - FUSE call: only scratch names (emacs's lock file ".#KEY.json").
func (d *rootDir) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (_ *fs.Inode, status syscall.Errno) {
	if d.opt.ReadOnly {
		return nil, syscall.EROFS
	}
	if _, isSession := sessionKey(name); isSession {
		d.log.Warn("symlink refused: a session name is a regular file", "name", name)
		return nil, syscall.EPERM
	}
	if d.isView(name) {
		return nil, d.refuseView("symlink", name)
	}
	n, errno := d.createScratch(ctx, name, &scratchEntry{link: true, target: target, mode: 0o777}, syscall.O_EXCL)
	if errno != 0 {
		return nil, errno
	}
	n.entry.attr(&out.Attr)
	return &n.Inode, 0
}

// Unlink - FUSE call. Removing KEY.json deletes the session (its user is
// logged out), whatever it holds. Removing an editor's backup of a hidden
// session shows the session again instead of deleting it: a backup rename
// never costs a session.
func (d *rootDir) Unlink(ctx context.Context, name string) (status syscall.Errno) {
	ctx = uninterruptible(ctx)
	if d.opt.ReadOnly {
		return syscall.EROFS
	}
	if d.isView(name) {
		return d.refuseView("unlink", name)
	}
	defer d.lockChanges()()
	key, isSession := sessionKey(name)
	d.mu.Lock()
	if !isSession {
		defer d.mu.Unlock()
		return d.ns.unlinkScratch(name)
	}
	act, pending := d.ns.unlink(key)
	d.mu.Unlock()
	switch act {
	case unlinkPending:
		pending.markGone()
		return 0
	case unlinkHidden:
		return syscall.ENOENT
	}
	return d.removeSession(ctx, key, "rm", func(store.Entry) bool { return true })
}

// markChildGone makes open writers of the tree's node for name fail instead
// of resurrecting a deleted or replaced session. Caller holds d.mu.
func (d *rootDir) markChildGone(name string) {
	if ch := d.GetChild(name); ch != nil {
		if n, ok := ch.Operations().(*sessionNode); ok {
			n.markGone()
		}
	}
}

// Rename - FUSE call. Four cases by the kinds of the two names:
// session→session re-keys in the store; scratch→session is a save (sed -i,
// vim, mv of an edited copy), and leaves everything unchanged on invalid
// content; session→scratch is an editor's backup rename, which hides the
// name but keeps the backing session; scratch→scratch stays in memory.
func (d *rootDir) Rename(ctx context.Context, from string, newParent fs.InodeEmbedder, to string, flags uint32) (status syscall.Errno) {
	ctx = uninterruptible(ctx)
	if d.opt.ReadOnly {
		return syscall.EROFS
	}
	if d.isView(from) || d.isView(to) {
		return d.refuseView("rename", from)
	}
	if newParent.EmbeddedInode() != &d.Inode {
		return syscall.EXDEV // the views are not places to move sessions to
	}
	if flags&^uint32(renameNoReplace) != 0 {
		return syscall.EINVAL // RENAME_EXCHANGE, RENAME_WHITEOUT
	}
	noReplace := flags&renameNoReplace != 0
	defer d.lockChanges()()
	fromKey, fromSession := sessionKey(from)
	toKey, toSession := sessionKey(to)
	switch {
	case fromSession && toSession:
		return d.renameSession(ctx, from, fromKey, to, toKey)
	case !fromSession && toSession:
		return d.commitScratch(ctx, from, to, toKey, noReplace)
	case fromSession && !toSession:
		return d.backupSession(ctx, from, fromKey, to, noReplace)
	default:
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.ns.renameScratch(from, to, noReplace)
	}
}

// renameSession re-keys a session: the store guarantees no moment without
// either key; the new key must be free (EEXIST otherwise, even for mv).
// Caller holds d.changeMu, not d.mu.
func (d *rootDir) renameSession(ctx context.Context, from, fromKey, to, toKey string) syscall.Errno {
	d.mu.Lock()
	errno := d.ns.renameSession(fromKey, toKey)
	d.mu.Unlock()
	if errno != 0 {
		return errno
	}
	if _, err := change.Rename(ctx, d.store, fromKey, toKey, d.auditFor(ctx)); err != nil {
		d.counters.rejectedWrites.Add(1)
		return d.errno("rename", err)
	}
	d.counters.writes.Add(1)
	d.log.Info("session re-keyed", "from", fromKey, "to", toKey)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.markChildGone(to)
	if ch := d.GetChild(from); ch != nil {
		if n, ok := ch.Operations().(*sessionNode); ok {
			n.mu.Lock()
			n.key = toKey
			n.mu.Unlock()
		}
	}
	return 0
}

// commitScratch saves a scratch file's content as session toKey: the
// session is replaced in one rename in the backing directory, never missing.
// Caller holds d.changeMu, not d.mu: no other change runs meanwhile, and
// lookups go on while the store saves.
func (d *rootDir) commitScratch(ctx context.Context, from, to, toKey string, noReplace bool) syscall.Errno {
	d.mu.Lock()
	e, errno := d.ns.commitSource(from)
	d.mu.Unlock()
	if errno == syscall.EPERM {
		d.log.Warn("rename refused: a symlink cannot become a session", "from", from, "to", to)
	}
	if errno != 0 {
		return errno
	}
	exists, err := d.sessionExists(ctx, toKey)
	if err != nil {
		return d.errno("rename", err)
	}
	e.mu.Lock()
	data, dirty, failed := append([]byte(nil), e.data.bytes()...), e.dirty, e.failed
	e.mu.Unlock()
	d.mu.Lock()
	save, errno := d.ns.commitNeeded(e, toKey, exists, dirty, noReplace)
	d.mu.Unlock()
	if errno != 0 {
		return errno
	}
	who := d.callerProc(ctx)
	if failed != 0 {
		d.counters.rejectedWrites.Add(1)
		change.Refuse(ctx, d.store, toKey, nil, "a write to "+from+" failed: "+failed.Error(), d.auditFor(ctx))
		d.log.Warn("save by rename refused, session unchanged: a write to the renamed file failed, so it does not hold what was meant",
			"from", from, "session", toKey, "write_error", failed.Error())
		return failed
	}
	if !save {
		// The backup comes back unchanged (vim restoring after a failed
		// write): the backing session never changed, so nothing to save.
		d.log.Info("backup renamed back unchanged", "session", toKey)
	} else {
		// An edit keeps the session's expiry, whether the editor hid it
		// behind a backup first or not.
		opt := store.SaveOptions{MustCreate: !exists, KeepExpiry: true}
		if exists {
			opt.IfMatch = d.baseVersion(who, toKey)
		}
		saved, err := change.Save(ctx, d.store, toKey, data, opt, d.auditFor(ctx))
		if err != nil {
			d.counters.rejectedWrites.Add(1)
			d.log.Warn("save by rename rejected, session unchanged", append([]any{"from", from, "session", toKey, "err", err}, conflictHint(err)...)...)
			return d.errno("rename", err)
		}
		d.noteVersion(who, toKey, saved.Version)
		d.counters.writes.Add(1)
		d.log.Info("session saved", "session", toKey, "from", from, "created", saved.Created)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if replaced := d.ns.committed(from, e, toKey); replaced != nil {
		replaced.markGone()
	}
	d.markChildGone(to)
	return 0
}

// backupSession handles "KEY.json -> KEY.json~": the scratch file gets the
// session's current rendering and the name KEY.json is hidden, but the
// backing session stays until a commit replaces it (the editor's next step)
// or the user unlinks KEY.json. Caller holds d.changeMu, not d.mu.
func (d *rootDir) backupSession(ctx context.Context, from, fromKey, to string, noReplace bool) syscall.Errno {
	d.mu.Lock()
	errno := d.ns.backupAllowed(fromKey, to, noReplace)
	d.mu.Unlock()
	if errno != 0 {
		return errno
	}
	sess, err := d.store.Load(ctx, fromKey)
	if err != nil {
		return d.errno("rename", err)
	}
	doc, err := d.render(sess.JSON)
	if err != nil {
		return d.errno("rename", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.ns.backupAllowed(fromKey, to, noReplace); e != 0 {
		return e // a create raced the load
	}
	e := &scratchEntry{mode: d.opt.perm(0o666), mtime: sess.ModTime}
	e.uid, e.gid = d.creator(ctx)
	if errno := d.ns.backup(fromKey, to, e); errno != 0 {
		return errno
	}
	e.mu.Lock()
	errno = d.ns.scratch.resize(e, len(doc))
	copy(e.data.bytes(), doc)
	e.mu.Unlock()
	if errno != 0 {
		d.ns.unlinkScratch(to) // and fromKey shows again
		return errno
	}
	d.markChildGone(from)
	d.log.Info("session hidden behind a backup name; the backing file is kept", "session", fromKey, "backup", to)
	return 0
}

// renameNoReplace is Linux's RENAME_NOREPLACE (go-fuse only names EXCHANGE).
const renameNoReplace = 0x1

// creator is the owner an editor or temp file created by the caller of ctx
// shows: the caller's uid and gid, so that with --allow-other an editor run
// by another user can open the files it made (the kernel checks modes
// against them); the mount's owner when FUSE names no caller.
func (d *rootDir) creator(ctx context.Context) (uid, gid uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	return d.opt.UID, d.opt.GID
}
