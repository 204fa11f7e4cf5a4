package fusefs

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// The extended attributes a session file has with Options.XAttrs
// (getfattr -d KEY.json). Read-only: setting any attribute is ENOTSUP.
const (
	xattrExpires = "user.sessionfs.expires"  // RFC 3339 UTC, or "never"
	xattrUserID  = "user.sessionfs.user_id"  // _auth_user_id; absent when not logged in
	xattrFormat  = "user.sessionfs.format"   // "signed json sha256", "legacy pickle"...; "empty" for a placeholder
	xattrKey     = "user.sessionfs.key"      // "current" or "fallback N"
	xattrRawSize = "user.sessionfs.raw_size" // bytes of the backing file
	xattrError   = "user.sessionfs.error"    // .invalid files: why the file does not decode
)

// xattr is one attribute and its value.
type xattr struct{ name, value string }

// sessionXattrs are the attributes of a decodable session.
func sessionXattrs(m store.Meta) []xattr {
	expires := "never"
	if !m.Expiry.IsZero() {
		expires = m.Expiry.UTC().Format(time.RFC3339)
	}
	out := []xattr{{xattrExpires, expires}}
	if m.UserID != "" {
		out = append(out, xattr{xattrUserID, m.UserID})
	}
	if m.Empty {
		out = append(out, xattr{xattrFormat, "empty"})
	} else {
		out = append(out, xattr{xattrFormat, formatText(m.Info)}, xattr{xattrKey, m.Info.KeyName()})
	}
	return append(out, xattr{xattrRawSize, strconv.FormatInt(m.RawSize, 10)})
}

// formatText names how a session is stored: format, serializer, and for
// format signed the hash and compression.
func formatText(i codec.Info) string {
	words := []string{i.Format.String(), i.Serializer.String()}
	if i.Format == codec.FormatSigned {
		words = append(words, i.Algorithm.String())
		if i.Compressed {
			words = append(words, "zlib")
		}
	}
	return strings.Join(words, " ")
}

// invalidXattrs are the attributes of an .invalid file.
func invalidXattrs(e store.Entry) []xattr {
	return []xattr{
		{xattrError, store.Problem(e.Err) + ": " + e.Err.Error()},
		{xattrRawSize, strconv.FormatInt(e.RawSize, 10)},
	}
}

// getXattr answers a Getxattr from a list: ENODATA for other names (the
// kernel asks every file for security.* and system.posix_acl_*), ERANGE
// with the size when dest is too small.
func getXattr(attrs []xattr, name string, dest []byte) (uint32, syscall.Errno) {
	for _, a := range attrs {
		if a.name == name {
			if len(dest) < len(a.value) {
				return uint32(len(a.value)), syscall.ERANGE
			}
			return uint32(copy(dest, a.value)), 0
		}
	}
	return 0, syscall.ENODATA
}

// listXattr answers a Listxattr: NUL-terminated names.
func listXattr(attrs []xattr, dest []byte) (uint32, syscall.Errno) {
	var b []byte
	for _, a := range attrs {
		b = append(append(b, a.name...), 0)
	}
	if len(dest) < len(b) {
		return uint32(len(b)), syscall.ERANGE
	}
	return uint32(copy(dest, b)), 0
}

// noXattrWrites answers attribute writes on every node: the attributes
// are derived (from the session, the view, the scratch entry), so setting
// or removing one is ENOTSUP, which cp -a, sed -i and editors copying
// attributes ignore (ENODATA makes sed -i warn). Each node type embeds it.
type noXattrWrites struct{}

// Setxattr - FUSE call.
func (noXattrWrites) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOTSUP
}

// Removexattr - FUSE call.
func (noXattrWrites) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return syscall.ENOTSUP
}

var (
	_ = (fs.NodeGetxattrer)((*sessionNode)(nil))
	_ = (fs.NodeListxattrer)((*sessionNode)(nil))
	_ = (fs.NodeSetxattrer)((*sessionNode)(nil))
	_ = (fs.NodeRemovexattrer)((*sessionNode)(nil))
	_ = (fs.NodeSetxattrer)((*rootDir)(nil))
	_ = (fs.NodeRemovexattrer)((*rootDir)(nil))
	_ = (fs.NodeSetxattrer)((*scratchNode)(nil))
	_ = (fs.NodeRemovexattrer)((*scratchNode)(nil))
)

// xattrs are the node's attributes now; none while it is being created.
func (n *sessionNode) xattrs(ctx context.Context) ([]xattr, syscall.Errno) {
	key, state := n.snapshot()
	switch {
	case state.gone():
		return nil, syscall.ESTALE
	case state.pending():
		return nil, 0
	}
	meta, err := n.root.liveMeta(ctx, key)
	if err != nil {
		return nil, n.root.lookupErrno(err)
	}
	return sessionXattrs(meta), 0
}

// Getxattr - FUSE call (only with Options.XAttrs).
func (n *sessionNode) Getxattr(ctx context.Context, attr string, dest []byte) (_ uint32, status syscall.Errno) {
	return getXattrOf(ctx, n.xattrs, attr, dest)
}

// Listxattr - FUSE call.
func (n *sessionNode) Listxattr(ctx context.Context, dest []byte) (_ uint32, status syscall.Errno) {
	return listXattrOf(ctx, n.xattrs, dest)
}

// getXattrOf answers a Getxattr from the attributes attrs returns; names
// outside user.sessionfs. (security.*, system.posix_acl_*) are ENODATA
// without asking.
func getXattrOf(ctx context.Context, attrs func(context.Context) ([]xattr, syscall.Errno), name string, dest []byte) (uint32, syscall.Errno) {
	if !strings.HasPrefix(name, "user.sessionfs.") {
		return 0, syscall.ENODATA
	}
	list, e := attrs(ctx)
	if e != 0 {
		return 0, e
	}
	return getXattr(list, name, dest)
}

// listXattrOf answers a Listxattr from the attributes attrs returns.
func listXattrOf(ctx context.Context, attrs func(context.Context) ([]xattr, syscall.Errno), dest []byte) (uint32, syscall.Errno) {
	list, e := attrs(ctx)
	if e != 0 {
		return 0, e
	}
	return listXattr(list, dest)
}

// xattrs of a view file: a session's for .expired, the reason for .invalid.
func (v *viewFile) xattrs(ctx context.Context) ([]xattr, syscall.Errno) {
	e, errno := v.entry(ctx)
	if errno != 0 {
		return nil, errno
	}
	if v.kind == kindInvalid {
		return invalidXattrs(e), 0
	}
	return sessionXattrs(e.Meta), 0
}

// Getxattr - FUSE call.
func (v *viewFile) Getxattr(ctx context.Context, attr string, dest []byte) (_ uint32, status syscall.Errno) {
	return getXattrOf(ctx, v.xattrs, attr, dest)
}

// Listxattr - FUSE call.
func (v *viewFile) Listxattr(ctx context.Context, dest []byte) (_ uint32, status syscall.Errno) {
	return listXattrOf(ctx, v.xattrs, dest)
}
