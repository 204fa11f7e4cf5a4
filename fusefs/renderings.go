package fusefs

import (
	"sync"
	"syscall"

	"github.com/sessionfs/sessionfs/store"
)

// rendering is the pretty JSON of one version of a session, shared by every
// open file reading that version: twenty readers of a large session hold it
// once. Its bytes never change; it is charged to the buffer budget once,
// and given back when the last reader closes.
type rendering struct {
	key     string
	version store.Version
	data    []byte
	refs    int // guarded by renderings.mu
}

// renderings holds the renderings open files read, by session key: the
// newest version each key was opened at. An older version stays alive
// (unlisted) for as long as files opened on it stay open.
type renderings struct {
	mu    sync.Mutex
	byKey map[string]*rendering
}

// acquireRendering returns the shared rendering of sess, rendering it if
// no open file holds that version. Release it with releaseRendering. A
// rendering that does not fit in the buffer budget is ENOMEM.
func (d *rootDir) acquireRendering(sess *store.Session) (*rendering, syscall.Errno) {
	r := &d.renderings
	if got := r.get(sess.Key, sess.Version); got != nil {
		return got, 0
	}
	doc, err := d.render(sess.JSON)
	if err != nil {
		return nil, d.errno("open", err)
	}
	fresh := &rendering{key: sess.Key, version: sess.Version, data: doc, refs: 1}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byKey == nil {
		r.byKey = map[string]*rendering{}
	}
	if got := r.byKey[sess.Key]; got != nil && got.version == sess.Version {
		got.refs++ // another open rendered the same version meanwhile
		return got, 0
	}
	if !d.buffers.take(int64(cap(doc))) {
		return nil, d.buffers.refuse("open", sessionName(sess.Key), int64(cap(doc)))
	}
	r.byKey[sess.Key] = fresh
	return fresh, 0
}

// get returns the listed rendering of key if it is version v, with one
// more reference.
func (r *renderings) get(key string, v store.Version) *rendering {
	r.mu.Lock()
	defer r.mu.Unlock()
	if got := r.byKey[key]; got != nil && got.version == v {
		got.refs++
		return got
	}
	return nil
}

// holdRendering returns g with one more reference.
func (d *rootDir) holdRendering(g *rendering) *rendering {
	d.renderings.mu.Lock()
	defer d.renderings.mu.Unlock()
	g.refs++
	return g
}

// releaseRendering drops one reference; the last gives its bytes back.
func (d *rootDir) releaseRendering(g *rendering) {
	r := &d.renderings
	r.mu.Lock()
	defer r.mu.Unlock()
	g.refs--
	if g.refs > 0 {
		return
	}
	if r.byKey[g.key] == g {
		delete(r.byKey, g.key)
	}
	d.buffers.give(int64(cap(g.data)))
}
