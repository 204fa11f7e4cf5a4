package fusefs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// serverError is shaped like a database backend's error: its own kinds
// beside the store's, and a deadline for a statement the server did not
// answer in time.
type serverError struct{ kinds []error }

func (e serverError) Error() string   { return "database: something happened" }
func (e serverError) Unwrap() []error { return e.kinds }

// TestErrnoTable: every error a backend reports maps to its errno in the
// one table; a server that stopped answering is EIO with a log line, never
// EINTR (which would say the caller was interrupted).
func TestErrnoTable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want syscall.Errno
		log  string
	}{
		{nil, 0, ""},
		{fmt.Errorf("session k: %w", store.ErrNotFound), syscall.ENOENT, ""},
		// A guarded save of a row removed meanwhile is both: not found wins.
		{fmt.Errorf("removed since read: %w, %w", store.ErrNotFound, store.ErrConflict), syscall.ENOENT, ""},
		{fmt.Errorf("session k: %w", store.ErrConflict), syscall.EIO, ""},
		{fmt.Errorf("x: %w", codec.ErrBadSignature), syscall.ENOENT, ""},
		{fmt.Errorf("x: %w", store.ErrExists), syscall.EEXIST, ""},
		{fmt.Errorf("x: %w", store.ErrInvalidKey), syscall.EINVAL, ""},
		{fmt.Errorf("x: %w", store.ErrTooLarge), syscall.EFBIG, ""},
		{serverError{[]error{store.ErrReadOnly}}, syscall.EROFS, ""},
		{serverError{[]error{store.ErrPermission}}, syscall.EACCES, ""},
		{serverError{[]error{store.ErrCreateRefused}}, syscall.EPERM, ""},
		{fmt.Errorf("memcached: %w", store.ErrNoListing), syscall.EOPNOTSUPP, ""},
		{serverError{[]error{store.ErrUnavailable}}, syscall.EIO, "session store unavailable"},
		{serverError{[]error{store.ErrUnavailable, context.DeadlineExceeded}}, syscall.EIO, "session store unavailable"},
		{context.Canceled, syscall.EINTR, ""},
		{fmt.Errorf("x: %w", syscall.ENOSPC), syscall.ENOSPC, ""},
		{errors.New("something new"), syscall.EIO, "unmapped error"},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		if got := errno(log, "op", tt.err); got != tt.want {
			t.Errorf("errno(%v) = %v, want %v", tt.err, got, tt.want)
		}
		if tt.log == "" && buf.Len() > 0 || tt.log != "" && !strings.Contains(buf.String(), tt.log) {
			t.Errorf("errno(%v) logged %q, want %q", tt.err, buf.String(), tt.log)
		}
	}
}
