// Command sessionfs shows and edits the sessions of Django's file and
// database session backends: decoded, as JSON, from the command line and
// through a FUSE mount.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// Exit codes, documented in the README.
const (
	exitOK           = 0
	exitError        = 1 // usage, configuration or I/O error
	exitBadSignature = 2 // a session's signature does not verify with any key
	exitCorrupt      = 3 // signature fine, content undecodable (or not a Django format)
	exitNotFound     = 4 // no such session
	exitInvalidInput = 5 // rejected input: invalid JSON, invalid session key, key taken
	exitCacheDiffers = 6 // verify, cached_db: a cache copy Django serves is not its row
)

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	app := newApp()
	if err := app.Run(interspersed(app, args)); err != nil {
		fmt.Fprintf(os.Stderr, "sessionfs: %v\n", err)
		return exitCode(err)
	}
	return exitOK
}

func newApp() *cli.App {
	app := &cli.App{
		Name:                 "sessionfs",
		Usage:                "see and change the sessions of Django's file and database session backends",
		Flags:                settingsFlags(),
		Commands:             commands(),
		EnableBashCompletion: true,
		// Errors are printed once, by run, with the exit code of their kind.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	return app
}

// commands lists every subcommand, in the README's order; each one also
// accepts the shared settings after its name (sessionfs decode
// --secret-key-file K FILE).
func commands() []*cli.Command {
	cmds := []*cli.Command{
		decodeCommand(),
		encodeCommand(),
		lsCommand(),
		showCommand(),
		putCommand(),
		rmCommand(),
		gcCommand(),
		verifyCommand(),
		statsCommand(),
		revokeCommand(),
		rekeyCommand(),
		generateCommand(),
		mountCommand(),
		umountCommand(),
		demoCommand(),
	}
	for _, c := range cmds {
		c.Flags = append(c.Flags, commandLevel(settingsFlags())...)
	}
	return cmds
}

// usageErr marks errors the user fixes by changing the command line.
type usageErr struct{ err error }

func (e usageErr) Error() string { return e.err.Error() }
func (e usageErr) Unwrap() error { return e.err }

func usageError(err error) error { return usageErr{err} }
func usageErrorf(format string, args ...any) error {
	return usageErr{fmt.Errorf(format, args...)}
}

// exitErr carries an explicit exit code (verify's summary, for example).
type exitErr struct {
	code int
	msg  string
}

func (e exitErr) Error() string { return e.msg }

// exitCode maps an error to the documented exit codes, in one place.
func exitCode(err error) int {
	var ee exitErr
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, codec.ErrBadSignature):
		return exitBadSignature
	case errors.Is(err, codec.ErrCorrupt), errors.Is(err, codec.ErrUnknownFormat), errors.Is(err, codec.ErrTooLarge),
		errors.Is(err, store.ErrNotRegular), errors.Is(err, store.ErrTooLarge):
		return exitCorrupt
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrReadOnly),
		errors.Is(err, store.ErrPermission), errors.Is(err, store.ErrCreateRefused):
		// A session store that cannot be used as asked (a database that is
		// unreachable, refuses the login, lacks the table, is read-only, or
		// whose table needs columns a new row cannot fill) is a
		// configuration error, whatever the session in hand: before the
		// session's own kinds, so a key that merely could not be read is
		// not reported missing.
		return exitError
	case errors.Is(err, store.ErrNotFound):
		return exitNotFound
	case errors.Is(err, codec.ErrInvalidSession), errors.Is(err, codec.ErrUnsupportedValue),
		errors.Is(err, store.ErrInvalidKey), errors.Is(err, store.ErrExists):
		return exitInvalidInput
	}
	return exitError
}
