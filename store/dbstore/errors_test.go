package dbstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessionfs/sessionfs/store"
)

func TestRedactor(t *testing.T) {
	r := newRedactor("p@ss word/1", "", "other")
	msg := r.redact("auth p@ss word/1 failed; url p%40ss+word%2F1 and p@ss%20word%2F1; other")
	for _, leak := range []string{"p@ss word/1", "p%40ss+word%2F1", "p@ss%20word%2F1", "other"} {
		if strings.Contains(msg, leak) {
			t.Errorf("%q survives redaction: %s", leak, msg)
		}
	}
}

// A wrapped driver error keeps its kind but neither its text with the
// password nor a way to reach the driver's error.
func TestWrapHidesDriverError(t *testing.T) {
	const pw = "Tr0ub4dor&3"
	w := errorWrapper{newRedactor(pw)}
	drv := &pgconn.PgError{Code: "28P01", Message: "password authentication failed for user \"app\" (tried " + pw + ")"}
	err := w.wrap(Config{Engine: PostgreSQL, Host: "db", Name: "site"}, fmt.Errorf("connect: %w", drv), "connecting to %s", "db")
	if !errors.Is(err, ErrAuth) {
		t.Errorf("%v is not ErrAuth", err)
	}
	if strings.Contains(err.Error(), pw) {
		t.Errorf("password in %q", err)
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		t.Error("the driver's error is reachable through the wrapped one")
	}
	again := w.wrap(Config{}, fmt.Errorf("outer: %w", err), "retrying")
	if !errors.Is(again, ErrAuth) || strings.Contains(again.Error(), pw) {
		t.Errorf("rewrapped: %v", again)
	}
}

func TestPgKinds(t *testing.T) {
	for code, want := range map[string]error{
		"23505": store.ErrExists, "23502": ErrCreateRefused, "25006": ErrReadOnly, "28P01": ErrAuth,
		"42501": ErrPermission, "42P01": ErrSchema, "57014": ErrUnavailable, "57P01": ErrUnavailable, "08006": ErrUnavailable,
	} {
		kinds := pgKinds(&pgconn.PgError{Code: code})
		if len(kinds) != 1 || kinds[0] != want {
			t.Errorf("%s: %v, want %v", code, kinds, want)
		}
	}
}

// A configuration error from pgx's parser (before any connection) quotes
// the connection string: the password is not in it.
func TestOpenConfigErrorHidesPassword(t *testing.T) {
	const pw = "s3cret-in-the-url"
	for _, url := range []string{
		"postgres://app:" + pw + "@127.0.0.1:1/site?sslmode=bogus",
		"postgres://app:" + pw + "@127.0.0.1:1/site?target_session_attrs=bogus",
	} {
		c, err := ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Open(context.Background(), c)
		if err == nil || strings.Contains(err.Error(), pw) {
			t.Errorf("Open: %v", err)
		}
	}
}

// Every kind is also the store contract's error of that meaning: the
// mount's errno table knows only those.
func TestKindsAreContractErrors(t *testing.T) {
	for kind, want := range map[error]error{
		ErrReadOnly: store.ErrReadOnly, ErrUnavailable: store.ErrUnavailable, ErrAuth: store.ErrUnavailable,
		ErrPermission: store.ErrPermission, ErrSchema: store.ErrUnavailable, ErrCreateRefused: store.ErrCreateRefused,
	} {
		err := errorWrapper{}.wrap(Config{}, &dbError{msg: "x", kinds: []error{kind}}, "doing")
		if !errors.Is(err, kind) || !errors.Is(err, want) {
			t.Errorf("%v: errors.Is(%v) %v, errors.Is(%v) %v", err, kind, errors.Is(err, kind), want, errors.Is(err, want))
		}
	}
	if errors.Is(ErrUnavailable, store.ErrReadOnly) || errors.Is(ErrReadOnly, ErrUnavailable) {
		t.Error("kinds match each other")
	}
}
