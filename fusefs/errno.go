package fusefs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// errno is the only place errors become FUSE status. go-fuse's ToErrno turns
// unknown errors into ENOTSUP, which tools report as "operation not
// supported"; here unknown means EIO, and is logged. ENOSYS from below is
// not passed on either: the kernel would disable that operation for the
// whole mount.
func errno(log *slog.Logger, op string, err error) syscall.Errno {
	var e syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.Is(err, store.ErrNotFound),
		// What Django would load as an empty or new session is not a live
		// session: the mount does not show it (the CLI's verify explains it).
		errors.Is(err, codec.ErrBadSignature), errors.Is(err, codec.ErrCorrupt),
		errors.Is(err, codec.ErrUnknownFormat), errors.Is(err, store.ErrNotRegular):
		return syscall.ENOENT
	case errors.Is(err, store.ErrUnavailable):
		// Before the context case: a server that did not answer within its
		// statement timeout is an I/O error, not an interrupted caller.
		log.Warn("fusefs: session store unavailable, reporting EIO", "op", op, "err", err)
		return syscall.EIO
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR // the caller was interrupted; the kernel expects EINTR
	case errors.Is(err, store.ErrReadOnly):
		return syscall.EROFS
	case errors.Is(err, store.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, store.ErrCreateRefused):
		return syscall.EPERM
	case errors.Is(err, store.ErrInvalidKey), errors.Is(err, codec.ErrInvalidSession),
		errors.Is(err, codec.ErrUnsupportedValue):
		return syscall.EINVAL
	case errors.Is(err, store.ErrExists):
		return syscall.EEXIST
	case errors.Is(err, store.ErrTooLarge), errors.Is(err, codec.ErrTooLarge):
		return syscall.EFBIG
	case errors.Is(err, store.ErrConflict):
		return syscall.EIO
	case errors.Is(err, store.ErrNoListing):
		return syscall.EOPNOTSUPP // a view that needs a listing, over a Memcached without one
	case errors.As(err, &e) && e != 0 && e != syscall.ENOSYS:
		return e // ENOSPC, EROFS, EACCES, EDQUOT... from the backing file system
	}
	log.Error("fusefs: unmapped error, reporting EIO", "op", op, "err", err)
	return syscall.EIO
}

// panicStatus is the mount's fuse.MountOptions.PanicHandler: go-fuse
// recovers a panic in an operation and answers with what this returns, so
// one bad request fails with EIO, is logged, and the mount stays up.
func panicStatus(log *slog.Logger, r any) fuse.Status {
	log.Error("fusefs: panic in operation, reporting EIO",
		"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return fuse.EIO
}

// errno is the package's errno (the one mapping) that also counts the
// failures that are not the caller's doing: I/O errors, a full disk,
// permissions in the backing directory, store bugs.
func (d *rootDir) errno(op string, err error) syscall.Errno {
	e := errno(d.log, op, err)
	if isCallerError(e) || errors.Is(err, store.ErrNotRegular) {
		return e
	}
	d.counters.errors.Add(1)
	return e
}

// isCallerError: errnos that answer the request as asked (no such name,
// invalid content or key, taken, too large, interrupted, stale handle).
func isCallerError(e syscall.Errno) bool {
	switch e {
	case 0, syscall.ENOENT, syscall.EINVAL, syscall.EEXIST, syscall.EFBIG, syscall.EINTR,
		syscall.ESTALE, syscall.EROFS, syscall.EPERM, syscall.EBUSY, syscall.ENOTEMPTY:
		return true
	}
	return false
}
