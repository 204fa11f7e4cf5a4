package cachestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/sessionfs/sessionfs/store"
)

// unavailable marks err as store.ErrUnavailable when it says the server
// could not be reached, went away, did not answer in time or refused the
// login: the mount answers EIO and the CLI names the server.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return err
	}
	var ne net.Error
	msg := err.Error()
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) ||
		strings.Contains(msg, "WRONGPASS") || strings.Contains(msg, "NOAUTH") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "broken pipe") {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// redact is the one place secrets leave error messages: every occurrence of
// a secret in err's text becomes "[redacted]". errors.Is still sees the
// sentinels underneath; the original text is not reachable through it.
func redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg, changed = strings.ReplaceAll(msg, s, "[redacted]"), true
		}
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Is lets errors.Is match the wrapped sentinels without exposing the
// unredacted error through Unwrap.
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }
