package fusefs

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// statsFile is .stats.json: the store's figures (the same as `sessionfs
// stats --json`) plus this mount's operation counters, computed afresh at
// every open.
type statsFile struct {
	fs.Inode
	noXattrWrites
	root *rootDir
}

var (
	_ = (fs.NodeGetattrer)((*statsFile)(nil))
	_ = (fs.NodeSetattrer)((*statsFile)(nil))
	_ = (fs.NodeOpener)((*statsFile)(nil))
	_ = (fs.NodeSetxattrer)((*statsFile)(nil))
	_ = (fs.NodeRemovexattrer)((*statsFile)(nil))
)

// renderStats computes the figures (one scan, from the store's metadata
// cache) and renders them as indented JSON with a trailing newline.
func (d *rootDir) renderStats(ctx context.Context) ([]byte, error) {
	st, err := d.store.Stats(ctx, nil)
	if err != nil {
		return nil, err
	}
	st.Operations = d.counters.snapshot()
	doc, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("rendering stats: %w", err)
	}
	doc = append(doc, '\n')
	d.views.mu.Lock()
	d.views.stats, d.views.statsAt = doc, time.Now()
	d.views.mu.Unlock()
	return doc, nil
}

// Getattr - FUSE call. On an open file (fstat), the exact size of what
// that open holds. A stat without an open reuses a rendering made within
// indexMaxAge (`ls -la` stats it right after the lookup). Either way `cat`
// reads exactly what the open rendered (direct I/O).
func (s *statsFile) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) (status syscall.Errno) {
	d := s.root
	s.fixedAttr(&out.Attr)
	now := time.Now()
	if h, ok := f.(*bytesHandle); ok {
		out.Size = uint64(len(h.data))
		return 0
	}
	d.views.mu.Lock()
	doc, at := d.views.stats, d.views.statsAt
	d.views.mu.Unlock()
	if doc == nil || now.Sub(at) > indexMaxAge {
		var err error
		if doc, err = d.renderStats(ctx); err != nil {
			return d.errno("getattr", err)
		}
	}
	out.Size = uint64(len(doc))
	return 0
}

// fixedAttr fills what does not depend on the figures.
func (s *statsFile) fixedAttr(out *fuse.Attr) {
	s.root.ownAttr(out, syscall.S_IFREG|0o444)
	fileExtent(out, 0, time.Now())
}

// cheapAttr is fixedAttr with the size of the last rendering.
func (s *statsFile) cheapAttr(out *fuse.Attr) {
	s.fixedAttr(out)
	d := s.root
	d.views.mu.Lock()
	out.Size = uint64(len(d.views.stats))
	d.views.mu.Unlock()
}

// Setattr - FUSE call: read-only.
func (s *statsFile) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return s.root.refuseView("setattr", viewStats)
}

// Open - FUSE call: read-only (EACCES for writing), rendered afresh.
func (s *statsFile) Open(ctx context.Context, flags uint32) (_ fs.FileHandle, _ uint32, status syscall.Errno) {
	d := s.root
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	doc, err := d.renderStats(ctx)
	if err != nil {
		return nil, 0, d.errno("open", err)
	}
	h, e := d.heldHandle(viewStats, doc)
	if e != 0 {
		return nil, 0, e
	}
	return h, fuse.FOPEN_DIRECT_IO, 0
}
