package fusefs

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/store"
)

// maxInvalidShown bounds what .invalid/<key> shows of a backing file: an
// operator wants to see what is there, not to page through a planted
// gigabyte.
const maxInvalidShown = 64 << 10

// viewKind says which view a viewFile belongs to.
type viewKind int

const (
	kindExpired viewKind = iota + 1 // .expired/<key>.json: the session as JSON
	kindInvalid                     // .invalid/<key>: the raw bytes, bounded
)

// viewFile is a read-only file of .expired or .invalid. It is looked up and
// read afresh from the store, like a session file; only rm changes it.
type viewFile struct {
	fs.Inode
	noXattrWrites
	root *rootDir
	key  string
	kind viewKind
}

var (
	_ = (fs.NodeGetattrer)((*viewFile)(nil))
	_ = (fs.NodeSetattrer)((*viewFile)(nil))
	_ = (fs.NodeOpener)((*viewFile)(nil))
	_ = (fs.NodeGetxattrer)((*viewFile)(nil))
	_ = (fs.NodeListxattrer)((*viewFile)(nil))
	_ = (fs.NodeSetxattrer)((*viewFile)(nil))
	_ = (fs.NodeRemovexattrer)((*viewFile)(nil))
)

// entry is the store's current view of the file, or ENOENT when it no
// longer belongs to this view (Django renewed or cleared it, the user
// removed it).
func (v *viewFile) entry(ctx context.Context) (store.Entry, syscall.Errno) {
	return v.root.viewEntry(ctx, v.key, v.kind)
}

// viewEntry is key's Scan-like entry if it belongs to the view kind.
func (d *rootDir) viewEntry(ctx context.Context, key string, kind viewKind) (store.Entry, syscall.Errno) {
	meta, err := d.store.Stat(ctx, key)
	e := store.Entry{Meta: meta, Err: err}
	// A name that is no key is absent, unless the store has a row under a
	// key Django would not make and this is its name (Meta then has the
	// row's Version): that row belongs in .invalid.
	if err != nil && (errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) && meta.Version.IsZero()) {
		return e, syscall.ENOENT
	}
	if !inView(d, e, kind, time.Now()) {
		if err != nil && kind != kindInvalid {
			return e, d.errno("lookup", err) // a real failure, not "decodes badly"
		}
		return e, syscall.ENOENT
	}
	return e, 0
}

// inView reports whether a Scan entry shows in the view kind.
func inView(d *rootDir, e store.Entry, kind viewKind, now time.Time) bool {
	switch kind {
	case kindExpired:
		return d.expired(e, now)
	case kindInvalid:
		return isInvalid(e)
	}
	return false
}

// Getattr - FUSE call. With the caller's handle, the size of what it
// holds; otherwise the store's: the rendering's length, or the raw size
// (bounded) of an invalid file.
func (v *viewFile) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) (status syscall.Errno) {
	e, errno := v.entry(ctx)
	if errno != 0 {
		return errno
	}
	v.root.viewFileAttr(e, v.kind, &out.Attr)
	if h, ok := f.(*bytesHandle); ok {
		out.Size = uint64(len(h.data))
	} else {
		out.SetTimeout(v.root.opt.CacheTimeout)
	}
	return 0
}

// viewFileAttr fills the attributes of a view file from its entry.
func (d *rootDir) viewFileAttr(e store.Entry, kind viewKind, out *fuse.Attr) {
	d.ownAttr(out, syscall.S_IFREG|0o444)
	out.Size = uint64(e.Size)
	if kind == kindInvalid {
		out.Size = uint64(min(e.RawSize, maxInvalidShown))
		if errors.Is(e.Err, store.ErrTooLarge) {
			out.Size = 0 // the store does not read it (Open shows nothing)
		}
	}
	mt := e.ModTime
	out.SetTimes(&mt, &mt, &mt)
	out.Blksize = 4096
}

// Setattr - FUSE call: view files are read-only.
func (v *viewFile) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if v.root.opt.ReadOnly {
		return syscall.EROFS
	}
	return syscall.EPERM
}

// Open - FUSE call: read-only, read afresh.
func (v *viewFile) Open(ctx context.Context, flags uint32) (_ fs.FileHandle, _ uint32, status syscall.Errno) {
	d := v.root
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	switch v.kind {
	case kindExpired:
		sess, err := d.store.Load(ctx, v.key)
		if err != nil {
			return nil, 0, d.errno("open", err)
		}
		r, e := d.acquireRendering(sess)
		if e != 0 {
			return nil, 0, e
		}
		d.counters.reads.Add(1)
		return &bytesHandle{data: r.data, release: func() { d.releaseRendering(r) }}, fuse.FOPEN_DIRECT_IO, 0
	case kindInvalid:
		raw, _, err := d.store.ReadRaw(ctx, v.key)
		var data []byte
		switch {
		case errors.Is(err, store.ErrTooLarge):
			// Shown empty; the reason is in user.sessionfs.error.
		case err != nil:
			return nil, 0, d.errno("open", err)
		default:
			// A copy: the whole file's bytes are not kept for what is shown.
			data = append([]byte(nil), raw[:min(len(raw), maxInvalidShown)]...)
		}
		h, e := d.heldHandle(v.key, data)
		if e != 0 {
			return nil, 0, e
		}
		return h, fuse.FOPEN_DIRECT_IO, 0
	}
	return nil, 0, syscall.EIO
}

// bytesHandle is an open view file: the content taken at open, held
// within the buffer budget until release.
type bytesHandle struct {
	data    []byte
	release func() // gives the content back to the buffer budget
}

var (
	_ = (fs.FileReader)((*bytesHandle)(nil))
	_ = (fs.FileReleaser)((*bytesHandle)(nil))
)

// heldHandle is a handle on data, a private copy, charged to the buffer
// budget (ENOMEM past it).
func (d *rootDir) heldHandle(name string, data []byte) (*bytesHandle, syscall.Errno) {
	n := int64(cap(data))
	if !d.buffers.take(n) {
		return nil, d.buffers.refuse("open", name, n)
	}
	return &bytesHandle{data: data, release: func() { d.buffers.give(n) }}, 0
}

// Release - FUSE call.
func (h *bytesHandle) Release(ctx context.Context) syscall.Errno {
	h.release()
	return 0
}

// Read - FUSE call.
func (h *bytesHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return readAt(h.data, dest, off), 0
}
