package cachestore

import (
	"errors"
	"strings"
)

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
