package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

func TestExitCodeOfStoreErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{dbstore.ErrUnavailable, exitError},
		{dbstore.ErrAuth, exitError},
		{dbstore.ErrSchema, exitError},
		{dbstore.ErrReadOnly, exitError},
		{dbstore.ErrPermission, exitError},
		{dbstore.ErrCreateRefused, exitError},
		// A session that could not be read because the server went away
		// is not a missing session.
		{fmt.Errorf("session x: %w", errors.Join(store.ErrNotFound, dbstore.ErrUnavailable)), exitError},
		{fmt.Errorf("session x: %w", store.ErrNotFound), exitNotFound},
		{fmt.Errorf("session x: %w", store.ErrExists), exitInvalidInput},
		{fmt.Errorf("session x: %w", store.ErrInvalidKey), exitInvalidInput},
	} {
		if got := exitCode(fmt.Errorf("sessionfs: %w", tc.err)); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
