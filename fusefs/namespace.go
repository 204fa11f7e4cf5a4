package fusefs

import "syscall"

// namespace holds the top directory's names that are not simply the
// store's sessions, and decides what each change does to them:
//
//   - pending: sessions created through the mount and not yet saved; the
//     name exists for the writer (and for stat) before the first commit.
//   - shadow: keys renamed onto a scratch name (an editor's backup
//     "KEY.json -> KEY.json~"). The name is hidden from the mount, but the
//     backing session stays until a commit replaces it or the backup is
//     unlinked: Django never finds it missing in between.
//   - scratch: files that are not sessions (swap, backup and temp files),
//     in memory.
//
// Its methods only decide and update these maps: they never call go-fuse
// nor the store, so the rules are unit-tested without /dev/fuse
// (namespace_test.go). The caller holds rootDir.mu.
type namespace struct {
	pending map[string]*sessionNode
	shadow  map[string]*scratchEntry
	scratch *scratchArea
}

func newNamespace(scratch *scratchArea) namespace {
	return namespace{pending: map[string]*sessionNode{}, shadow: map[string]*scratchEntry{}, scratch: scratch}
}

// lookup is what a lookup of key finds before the store is asked: a
// pending create, or nothing because the key is hidden behind a backup.
func (ns *namespace) lookup(key string) (pending *sessionNode, hidden bool) {
	if n := ns.pending[key]; n != nil {
		return n, false
	}
	return nil, ns.shadow[key] != nil
}

// hidden are the keys a listing of the store's sessions leaves out: those
// behind a backup and, when withPending, those being created (listed from
// pendingKeys instead).
func (ns *namespace) hidden(withPending bool) map[string]bool {
	h := make(map[string]bool, len(ns.shadow)+len(ns.pending))
	for key := range ns.shadow {
		h[key] = true
	}
	if withPending {
		for key := range ns.pending {
			h[key] = true
		}
	}
	return h
}

// busy reports whether key is being edited at the top level (pending, or
// behind a backup): a view may not remove it.
func (ns *namespace) busy(key string) bool {
	return ns.shadow[key] != nil || ns.pending[key] != nil
}

// createAction is what a create of a session name does.
type createAction int

const (
	createOpenPending createAction = iota // open the pending node of the key
	createOpenStored                      // open the store's session (a lookup raced Django creating it)
	createNew                             // a new pending node
	createReplacing                       // a new pending node whose commit replaces a session behind a backup
)

// create decides a create of key, which exists in the store or not; excl
// is O_EXCL. For createOpenPending it returns the pending node.
func (ns *namespace) create(key string, exists, excl bool) (createAction, *sessionNode, syscall.Errno) {
	if n := ns.pending[key]; n != nil {
		if excl {
			return 0, nil, syscall.EEXIST
		}
		return createOpenPending, n, 0
	}
	shadowed := ns.shadow[key] != nil
	switch {
	case exists && !shadowed && excl:
		return 0, nil, syscall.EEXIST
	case exists && !shadowed:
		return createOpenStored, nil, 0
	case exists && shadowed:
		// vim/emacs wrote the backup by rename and now write the new file.
		return createReplacing, nil, 0
	}
	return createNew, nil, 0
}

// createScratch decides a create of the scratch name: the existing entry to
// open, or e, added (ENOSPC past the area's file count). excl is O_EXCL; a
// symlink never replaces a name.
func (ns *namespace) createScratch(name string, e *scratchEntry, excl bool) (*scratchEntry, syscall.Errno) {
	if old := ns.scratch.byName[name]; old != nil {
		if excl || e.link {
			return nil, syscall.EEXIST
		}
		return old, 0
	}
	if errno := ns.scratch.add(name, e); errno != 0 {
		return nil, errno
	}
	return e, 0
}

// addPending records n, a new pending node of key.
func (ns *namespace) addPending(key string, n *sessionNode) { ns.pending[key] = n }

// unlinkAction is what an unlink of a session name does.
type unlinkAction int

const (
	unlinkStored  unlinkAction = iota // remove the store's session
	unlinkPending                     // drop the pending node (returned), nothing is stored
	unlinkHidden                      // ENOENT: the name is hidden behind a backup
)

// unlink decides an unlink of key, and forgets a pending node of it.
func (ns *namespace) unlink(key string) (unlinkAction, *sessionNode) {
	if n := ns.pending[key]; n != nil {
		delete(ns.pending, key)
		return unlinkPending, n
	}
	if ns.shadow[key] != nil {
		return unlinkHidden, nil
	}
	return unlinkStored, nil
}

// unlinkScratch removes a scratch name; removing the backup of a hidden
// session shows the session again.
func (ns *namespace) unlinkScratch(name string) syscall.Errno {
	e := ns.scratch.remove(name)
	if e == nil {
		return syscall.ENOENT
	}
	ns.unshadow(e.shadowOf)
	return 0
}

// renameSession decides a re-key of fromKey to toKey in the store.
func (ns *namespace) renameSession(fromKey, toKey string) syscall.Errno {
	switch {
	case ns.pending[fromKey] != nil || ns.pending[toKey] != nil:
		return syscall.EBUSY // a create through the mount is still open
	case ns.shadow[fromKey] != nil:
		return syscall.ENOENT
	case ns.shadow[toKey] != nil:
		return syscall.EEXIST
	}
	return 0
}

// commitSource is the scratch entry a rename from onto a session name
// saves, or why none can be.
func (ns *namespace) commitSource(from string) (*scratchEntry, syscall.Errno) {
	e := ns.scratch.byName[from]
	switch {
	case e == nil:
		return nil, syscall.ENOENT
	case e.link:
		return nil, syscall.EPERM // a symlink cannot become a session
	}
	return e, 0
}

// commitNeeded decides the save a rename of e onto toKey makes, given
// whether the store has toKey: EEXIST with noReplace onto a taken name;
// no save at all (save false) when e is toKey's own backup coming back
// unchanged (vim restoring after a failed write).
func (ns *namespace) commitNeeded(e *scratchEntry, toKey string, exists, dirty, noReplace bool) (save bool, _ syscall.Errno) {
	shadow := ns.shadow[toKey]
	taken := (exists && shadow == nil) || ns.pending[toKey] != nil
	if noReplace && taken {
		return false, syscall.EEXIST
	}
	return !(shadow == e && !dirty && exists), 0
}

// committed updates the names after a rename of scratch entry e (named
// from) onto toKey was saved: the scratch name goes, the keys e and toKey
// were hiding show again, and a pending node of toKey (returned) is
// replaced.
func (ns *namespace) committed(from string, e *scratchEntry, toKey string) (replaced *sessionNode) {
	if ns.scratch.byName[from] == e {
		ns.scratch.remove(from)
	}
	ns.unshadow(e.shadowOf)
	ns.unshadow(toKey)
	if n := ns.pending[toKey]; n != nil {
		delete(ns.pending, toKey)
		return n
	}
	return nil
}

// backupAllowed says why fromKey cannot be renamed onto the scratch name
// to (an editor's backup), if it cannot.
func (ns *namespace) backupAllowed(fromKey, to string, noReplace bool) syscall.Errno {
	switch {
	case ns.pending[fromKey] != nil:
		return syscall.EBUSY
	case ns.shadow[fromKey] != nil:
		return syscall.ENOENT
	case noReplace && ns.scratch.byName[to] != nil:
		return syscall.EEXIST
	}
	return 0
}

// backup adds e, the backup of fromKey, under the scratch name to,
// replacing what was there, and hides fromKey behind it.
func (ns *namespace) backup(fromKey, to string, e *scratchEntry) syscall.Errno {
	if old := ns.scratch.remove(to); old != nil {
		ns.unshadow(old.shadowOf)
	}
	e.shadowOf = fromKey
	if errno := ns.scratch.add(to, e); errno != 0 {
		e.shadowOf = ""
		return errno
	}
	ns.shadow[fromKey] = e
	return 0
}

// renameScratch moves a scratch entry, replacing any scratch entry at to.
func (ns *namespace) renameScratch(from, to string, noReplace bool) syscall.Errno {
	e := ns.scratch.byName[from]
	if e == nil {
		return syscall.ENOENT
	}
	if from == to {
		return 0
	}
	if ns.scratch.byName[to] != nil {
		if noReplace {
			return syscall.EEXIST
		}
		old := ns.scratch.remove(to)
		ns.unshadow(old.shadowOf)
	}
	delete(ns.scratch.byName, from)
	ns.scratch.byName[to] = e
	return 0
}

// saved updates the names after n's commit saved key: n is no longer
// pending, and a backup hiding key is a plain scratch file again.
func (ns *namespace) saved(key string, n *sessionNode) {
	if ns.pending[key] == n {
		delete(ns.pending, key)
	}
	ns.unshadow(key)
}

// abandon forgets n, pending under key, when its create ends without a
// commit (closed with nothing written, or released); it reports whether n
// was still the pending node of key.
func (ns *namespace) abandon(key string, n *sessionNode) bool {
	if ns.pending[key] != n {
		return false
	}
	delete(ns.pending, key)
	return true
}

// unshadow makes a key renamed away to a backup name visible again; the
// backup stays as a plain scratch file.
func (ns *namespace) unshadow(key string) {
	if e := ns.shadow[key]; e != nil {
		e.shadowOf = ""
		delete(ns.shadow, key)
	}
}
