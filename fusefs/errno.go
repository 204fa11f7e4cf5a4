package fusefs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"syscall"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// errInvalidContent is what a commit of bytes that are not a session JSON
// object fails with before the store is asked.
var errInvalidContent = errors.New("content is not a JSON object")

// errno is the only place errors become FUSE status. go-fuse's ToErrno turns
// unknown errors into ENOSYS, after which the kernel disables that operation
// for the whole mount; here unknown means EIO, and is logged.
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
		errors.Is(err, codec.ErrUnsupportedValue), errors.Is(err, errInvalidContent):
		return syscall.EINVAL
	case errors.Is(err, store.ErrExists):
		return syscall.EEXIST
	case errors.Is(err, store.ErrTooLarge), errors.Is(err, codec.ErrTooLarge):
		return syscall.EFBIG
	case errors.Is(err, store.ErrConflict):
		return syscall.EIO
	case errors.As(err, &e) && e != 0 && e != syscall.ENOSYS:
		return e // ENOSPC, EROFS, EACCES, EDQUOT... from the backing file system
	}
	log.Error("fusefs: unmapped error, reporting EIO", "op", op, "err", err)
	return syscall.EIO
}

// guard turns a panic in an operation into EIO: go-fuse has no panic
// handler, and a panic would take the mount down with open files in it.
// Use as `defer guard(log, "op", &status)`.
func guard(log *slog.Logger, op string, status *syscall.Errno) {
	if r := recover(); r != nil {
		log.Error("fusefs: panic in operation, reporting EIO", "op", op,
			"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*status = syscall.EIO
	}
}
