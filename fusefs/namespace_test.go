package fusefs

import (
	"log/slog"
	"syscall"
	"testing"
)

// nsFixture builds a namespace from a short description: pending keys,
// keys hidden behind a backup (key -> backup name), and plain scratch names.
type nsFixture struct {
	pending []string
	shadow  map[string]string
	scratch []string
	link    []string // scratch names that are symlinks
}

func (f nsFixture) build(t *testing.T) *namespace {
	t.Helper()
	ns := newNamespace(newScratchArea(100, 1<<20, &bufferBudget{max: -1, log: slog.Default()}))
	return f.fill(t, &ns)
}

func (f nsFixture) fill(t *testing.T, ns *namespace) *namespace {
	for _, key := range f.pending {
		ns.addPending(key, &sessionNode{key: key, state: statePending})
	}
	for _, name := range f.scratch {
		ns.scratch.add(name, &scratchEntry{})
	}
	for _, name := range f.link {
		ns.scratch.add(name, &scratchEntry{link: true, target: "x"})
	}
	for key, backup := range f.shadow {
		if errno := ns.backup(key, backup, &scratchEntry{}); errno != 0 {
			t.Fatal(errno)
		}
	}
	return ns
}

func TestNamespaceLookup(t *testing.T) {
	ns := nsFixture{pending: []string{"p"}, shadow: map[string]string{"h": "h.json~"}}.build(t)
	for _, c := range []struct {
		key             string
		pending, hidden bool
	}{{"p", true, false}, {"h", false, true}, {"s", false, false}} {
		n, hidden := ns.lookup(c.key)
		if (n != nil) != c.pending || hidden != c.hidden {
			t.Errorf("%s: pending %v hidden %v", c.key, n != nil, hidden)
		}
		if ns.busy(c.key) != (c.pending || c.hidden) {
			t.Errorf("%s: busy %v", c.key, ns.busy(c.key))
		}
	}
	if h := ns.hidden(false); len(h) != 1 || !h["h"] {
		t.Errorf("hidden: %v", h)
	}
	if h := ns.hidden(true); len(h) != 2 || !h["h"] || !h["p"] {
		t.Errorf("hidden with pending: %v", h)
	}
}

func TestNamespaceCreate(t *testing.T) {
	f := nsFixture{pending: []string{"p"}, shadow: map[string]string{"h": "h.json~"}}
	for _, c := range []struct {
		key          string
		exists, excl bool
		act          createAction
		errno        syscall.Errno
	}{
		{"p", false, false, createOpenPending, 0},
		{"p", false, true, 0, syscall.EEXIST},
		{"s", true, false, createOpenStored, 0}, // a lookup raced Django
		{"s", true, true, 0, syscall.EEXIST},    // Django's must-create
		{"s", false, true, createNew, 0},
		{"s", false, false, createNew, 0},
		{"h", true, false, createReplacing, 0}, // vim after its backup rename
		{"h", true, true, createReplacing, 0},
		{"h", false, false, createNew, 0}, // the hidden session went meanwhile
	} {
		ns := f.build(t)
		act, n, errno := ns.create(c.key, c.exists, c.excl)
		if errno != c.errno || errno == 0 && act != c.act || (act == createOpenPending && errno == 0) != (n != nil) {
			t.Errorf("create %s exists %v excl %v: %v %v %v, want %v %v", c.key, c.exists, c.excl, act, n != nil, errno, c.act, c.errno)
		}
	}
}

func TestNamespaceUnlink(t *testing.T) {
	f := nsFixture{pending: []string{"p"}, shadow: map[string]string{"h": "h.json~"}, scratch: []string{"x.swp"}}
	for _, c := range []struct {
		key string
		act unlinkAction
	}{{"p", unlinkPending}, {"h", unlinkHidden}, {"s", unlinkStored}} {
		ns := f.build(t)
		act, n := ns.unlink(c.key)
		if act != c.act || (act == unlinkPending) != (n != nil) {
			t.Errorf("unlink %s: %v %v, want %v", c.key, act, n != nil, c.act)
		}
		if c.act == unlinkPending && ns.pending[c.key] != nil {
			t.Errorf("unlink %s: still pending", c.key)
		}
	}
	// Unlinking the backup shows the session again; a plain scratch file
	// just goes; a name not there is ENOENT.
	ns := f.build(t)
	if errno := ns.unlinkScratch("h.json~"); errno != 0 || ns.shadow["h"] != nil {
		t.Errorf("unlink of the backup: %v, still hidden %v", errno, ns.shadow["h"] != nil)
	}
	if errno := ns.unlinkScratch("x.swp"); errno != 0 || ns.scratch.byName["x.swp"] != nil {
		t.Errorf("unlink of a scratch file: %v", errno)
	}
	if errno := ns.unlinkScratch("x.swp"); errno != syscall.ENOENT {
		t.Errorf("unlink of a name not there: %v", errno)
	}
}

func TestNamespaceRename(t *testing.T) {
	f := nsFixture{pending: []string{"p"}, shadow: map[string]string{"h": "h.json~"}, scratch: []string{"a", "b"}, link: []string{".#l"}}
	for _, c := range []struct {
		from, to string
		errno    syscall.Errno
	}{
		{"s", "t", 0},
		{"p", "t", syscall.EBUSY},
		{"s", "p", syscall.EBUSY},
		{"h", "t", syscall.ENOENT},
		{"s", "h", syscall.EEXIST},
	} {
		if errno := f.build(t).renameSession(c.from, c.to); errno != c.errno {
			t.Errorf("re-key %s -> %s: %v, want %v", c.from, c.to, errno, c.errno)
		}
	}
	for _, c := range []struct {
		from, to  string
		noReplace bool
		errno     syscall.Errno
		unhidden  bool
	}{
		{"a", "c", false, 0, false},
		{"a", "b", false, 0, false},
		{"a", "b", true, syscall.EEXIST, false},
		{"a", "a", true, 0, false},
		{"zz", "c", false, syscall.ENOENT, false},
		{"a", "h.json~", false, 0, true}, // replacing the backup shows its session
	} {
		ns := f.build(t)
		e := ns.scratch.byName[c.from]
		errno := ns.renameScratch(c.from, c.to, c.noReplace)
		if errno != c.errno {
			t.Errorf("scratch %s -> %s: %v, want %v", c.from, c.to, errno, c.errno)
			continue
		}
		if errno == 0 && ns.scratch.byName[c.to] != e {
			t.Errorf("scratch %s -> %s: not moved", c.from, c.to)
		}
		if unhidden := ns.shadow["h"] == nil; unhidden != c.unhidden {
			t.Errorf("scratch %s -> %s: h shown %v", c.from, c.to, unhidden)
		}
	}
}

// A backup rename hides the session; renaming the backup back saves only
// if it changed; renaming any scratch file onto a session name commits it
// and shows again what was hidden.
func TestNamespaceBackupAndCommit(t *testing.T) {
	f := nsFixture{pending: []string{"p"}, shadow: map[string]string{"h": "h.json~"}, scratch: []string{"a", "b.json~"}, link: []string{".#l"}}
	for _, c := range []struct {
		from, to  string
		noReplace bool
		errno     syscall.Errno
	}{
		{"s", "s.json~", false, 0},
		{"s", "b.json~", false, 0}, // an old backup is replaced
		{"s", "b.json~", true, syscall.EEXIST},
		{"p", "p.json~", false, syscall.EBUSY},
		{"h", "h2.json~", false, syscall.ENOENT},
	} {
		ns := f.build(t)
		errno := ns.backupAllowed(c.from, c.to, c.noReplace)
		if errno != c.errno {
			t.Errorf("backup %s -> %s: %v, want %v", c.from, c.to, errno, c.errno)
		}
		if errno != 0 {
			continue
		}
		e := &scratchEntry{}
		if errno := ns.backup(c.from, c.to, e); errno != 0 {
			t.Fatal(errno)
		}
		if _, hidden := ns.lookup(c.from); !hidden || ns.scratch.byName[c.to] != e || e.shadowOf != c.from {
			t.Errorf("backup %s -> %s: hidden %v", c.from, c.to, hidden)
		}
	}

	for _, c := range []struct {
		from  string
		errno syscall.Errno
	}{{"a", 0}, {"zz", syscall.ENOENT}, {".#l", syscall.EPERM}} {
		if _, errno := f.build(t).commitSource(c.from); errno != c.errno {
			t.Errorf("commit source %s: %v, want %v", c.from, errno, c.errno)
		}
	}

	for _, c := range []struct {
		from, toKey                    string
		exists, dirty, noReplace, save bool
		errno                          syscall.Errno
	}{
		{"a", "s", false, false, false, true, 0},
		{"a", "s", true, false, false, true, 0},
		{"a", "s", true, false, true, false, syscall.EEXIST},
		{"a", "s", false, false, true, true, 0},
		{"a", "p", false, false, true, false, syscall.EEXIST},
		{"a", "p", false, false, false, true, 0},
		{"a", "h", true, false, true, true, 0},         // the editor's new file onto its hidden session
		{"h.json~", "h", true, false, false, false, 0}, // the backup back, unchanged: nothing to save
		{"h.json~", "h", true, true, false, true, 0},   // the backup back, edited
		{"h.json~", "h", false, false, false, true, 0}, // the session went meanwhile: created again
	} {
		ns := f.build(t)
		e := ns.scratch.byName[c.from]
		save, errno := ns.commitNeeded(e, c.toKey, c.exists, c.dirty, c.noReplace)
		if save != c.save || errno != c.errno {
			t.Errorf("commit %s -> %s (exists %v dirty %v noReplace %v): save %v %v, want %v %v",
				c.from, c.toKey, c.exists, c.dirty, c.noReplace, save, errno, c.save, c.errno)
		}
		if errno != 0 {
			continue
		}
		replaced := ns.committed(c.from, e, c.toKey)
		if ns.scratch.byName[c.from] != nil || ns.busy(c.toKey) || (replaced != nil) != (c.toKey == "p") {
			t.Errorf("after commit %s -> %s: scratch left %v, busy %v, replaced %v", c.from, c.toKey,
				ns.scratch.byName[c.from] != nil, ns.busy(c.toKey), replaced != nil)
		}
	}
}

// A pending node leaves the namespace when it is saved or abandoned, and
// only the node that is pending under its key does.
func TestNamespacePendingLife(t *testing.T) {
	ns := nsFixture{pending: []string{"p"}, shadow: map[string]string{"h": "h.json~"}}.build(t)
	p := ns.pending["p"]
	if ns.abandon("p", &sessionNode{}) || ns.pending["p"] != p {
		t.Error("another node abandoned p")
	}
	if !ns.abandon("p", p) || ns.pending["p"] != nil {
		t.Error("p not abandoned")
	}
	r := &sessionNode{key: "h", state: stateReplacing}
	ns.addPending("h", r)
	ns.saved("h", r)
	if ns.busy("h") || ns.scratch.byName["h.json~"] == nil || ns.scratch.byName["h.json~"].shadowOf != "" {
		t.Error("a saved replacement leaves h busy, or its backup not a plain scratch file")
	}
}

func TestNamespaceCreateScratch(t *testing.T) {
	f := nsFixture{scratch: []string{"a"}}
	for _, c := range []struct {
		name       string
		link, excl bool
		existing   bool
		errno      syscall.Errno
	}{
		{"a", false, false, true, 0},
		{"a", false, true, false, syscall.EEXIST},
		{"a", true, false, false, syscall.EEXIST},
		{"b", false, true, false, 0},
	} {
		ns := f.build(t)
		e := &scratchEntry{link: c.link}
		got, errno := ns.createScratch(c.name, e, c.excl)
		if errno != c.errno || errno == 0 && (got != e) == !c.existing {
			t.Errorf("create scratch %s link %v excl %v: %v existing %v", c.name, c.link, c.excl, errno, got != e)
		}
	}
	full := newNamespace(newScratchArea(1, 1<<20, &bufferBudget{max: -1, log: slog.Default()}))
	full.createScratch("a", &scratchEntry{}, false)
	if _, errno := full.createScratch("b", &scratchEntry{}, false); errno != syscall.ENOSPC {
		t.Errorf("past the file count: %v", errno)
	}
}
