// Command sessionfs shows and edits the sessions of Django's file session
// backend: decoded, as JSON, from the command line and through a FUSE mount.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/filestore"
)

// Exit codes, documented in the README.
const (
	exitOK           = 0
	exitError        = 1 // usage, configuration or I/O error
	exitBadSignature = 2 // a session's signature does not verify with any key
	exitCorrupt      = 3 // signature fine, content undecodable (or not a Django format)
	exitNotFound     = 4 // no such session
	exitInvalidInput = 5 // rejected input: invalid JSON, invalid session key, key taken
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
		Usage:                "see and change the sessions of Django's file session backend",
		Flags:                settingsFlags(),
		Commands:             commands(),
		EnableBashCompletion: true,
		// Errors are printed once, by run, with the exit code of their kind.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	return app
}

// commands lists every subcommand; each one also accepts the shared settings
// after its name (sessionfs decode --secret-key-file K FILE).
func commands() []*cli.Command {
	var cmds []*cli.Command
	cmds = append(cmds, codecCommands()...)
	cmds = append(cmds, storeCommands()...)
	cmds = append(cmds, opsCommands()...)
	cmds = append(cmds, docsCommands()...)
	cmds = append(cmds, mountCommands()...)
	for _, c := range cmds {
		c.Flags = append(c.Flags, commandLevel(settingsFlags())...)
	}
	return cmds
}

// Shared setting names. Each is accepted before and after the command name
// and has an environment variable named after Django's setting.
const (
	flagSecretKeyFile     = "secret-key-file"
	flagFallbacksFile     = "secret-key-fallbacks-file"
	flagKeySalt           = "key-salt"
	flagSerializer        = "serializer"
	flagAlgorithm         = "algorithm"
	flagFormat            = "format"
	flagMaxDecoded        = "max-decoded-size"
	flagSessionFilePath   = "session-file-path"
	flagCookieName        = "cookie-name"
	flagCookieAge         = "cookie-age"
	flagNoFsync           = "no-fsync"
	envSecretKey          = "DJANGO_SECRET_KEY"
	settingsCategory      = "Django settings"
	defaultSessionFileDir = "" // Django: tempfile.gettempdir()
)

func settingsFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: flagSecretKeyFile, Category: settingsCategory, EnvVars: []string{"DJANGO_SECRET_KEY_FILE"},
			Usage: "file holding SECRET_KEY (one trailing newline dropped); or set $" + envSecretKey},
		&cli.StringFlag{Name: flagFallbacksFile, Category: settingsCategory, EnvVars: []string{"DJANGO_SECRET_KEY_FALLBACKS_FILE"},
			Usage: "file holding SECRET_KEY_FALLBACKS, one key per line, tried in order"},
		&cli.StringFlag{Name: flagKeySalt, Category: settingsCategory, EnvVars: []string{"SESSION_KEY_SALT"}, Value: codec.DefaultKeySalt,
			Usage: "signing salt: \"django.contrib.sessions.\" + the session store's class name"},
		&cli.StringFlag{Name: flagSerializer, Category: settingsCategory, EnvVars: []string{"SESSION_SERIALIZER"}, Value: "json",
			Usage: "SESSION_SERIALIZER for writing: json or pickle (Django's dotted class paths accepted)"},
		&cli.StringFlag{Name: flagAlgorithm, Category: settingsCategory, EnvVars: []string{"SESSION_SIGNING_ALGORITHM"}, Value: "sha256",
			Usage: "signature hash for writing format signed: sha256 or sha1 (Django 3.1.0's DEFAULT_HASHING_ALGORITHM)"},
		&cli.StringFlag{Name: flagFormat, Category: settingsCategory, EnvVars: []string{"SESSION_FORMAT"}, Value: "signed",
			Usage: "format for writing: signed (Django 3.1+), legacy (1.3-3.0), md5 (1.0-1.2)"},
		&cli.Int64Flag{Name: flagMaxDecoded, Category: settingsCategory, EnvVars: []string{"SESSION_MAX_DECODED_SIZE"}, Value: codec.DefaultMaxDecodedSize,
			Usage: "largest decoded or decompressed session in bytes; larger is an error (zlib bombs)"},
		&cli.StringFlag{Name: flagSessionFilePath, Category: settingsCategory, EnvVars: []string{"SESSION_FILE_PATH"},
			Usage: "the backing directory of Django's file session backend (default: the system temp dir, as Django)"},
		&cli.StringFlag{Name: flagCookieName, Category: settingsCategory, EnvVars: []string{"SESSION_COOKIE_NAME"}, Value: store.DefaultCookieName,
			Usage: "SESSION_COOKIE_NAME: the prefix of every session file name"},
		&cli.Int64Flag{Name: flagCookieAge, Category: settingsCategory, EnvVars: []string{"SESSION_COOKIE_AGE"}, Value: int64(store.DefaultCookieAge / time.Second),
			Usage: "SESSION_COOKIE_AGE in seconds: a session without _session_expiry expires at mtime + this"},
		&cli.BoolFlag{Name: flagNoFsync, Category: settingsCategory, EnvVars: []string{"SESSIONFS_NO_FSYNC"},
			Usage: "do not fsync saved sessions and the directory (faster, as Django; a power loss may lose a save)"},
	}, opsSettingsFlags()...)
}

// setting returns the context to read shared setting name from. A flag on
// a command line wins over the environment wherever it stands: the command's
// own command line first, then the global one, whose value is the flag, else
// the environment variable, else the default. The environment is applied at
// the global level only (commandLevel), so that a setting set on the
// command's own level can only have come from its command line (or from
// Django's settings, which fill in only what neither gives).
func setting(c *cli.Context, name string) *cli.Context {
	lineage := c.Lineage()
	for _, ctx := range lineage {
		if flagSetLocally(ctx, name) {
			return ctx
		}
	}
	// Not given anywhere: the global level holds the environment's value.
	for i := len(lineage) - 1; i >= 0; i-- {
		if lineage[i].Command != nil && hasFlag(lineage[i].Command.Flags, name) {
			return lineage[i]
		}
	}
	return c
}

// hasFlag reports whether flags define name.
func hasFlag(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// flagSetLocally reports whether name was given on ctx's own command line or,
// at the global level, in the environment (urfave/cli's IsSet also looks at
// parents).
func flagSetLocally(ctx *cli.Context, name string) bool {
	for _, n := range ctx.LocalFlagNames() {
		if n == name {
			return true
		}
	}
	return false
}

// commandLevel makes the copies of the shared settings a command accepts
// after its name: the same flags without their environment variables
// (named in their usage instead, for the help), which the global level
// alone applies. urfave/cli gives a flag's environment value the same
// standing as a command-line value on every level that defines the flag,
// so an environment variable applied on the command's level would beat a
// flag given before the command name.
func commandLevel(flags []cli.Flag) []cli.Flag {
	out := make([]cli.Flag, len(flags))
	for i, f := range flags {
		switch f := f.(type) {
		case *cli.StringFlag:
			cp := *f
			cp.Usage, cp.EnvVars = withEnvHint(cp.Usage, cp.EnvVars), nil
			out[i] = &cp
		case *cli.Int64Flag:
			cp := *f
			cp.Usage, cp.EnvVars = withEnvHint(cp.Usage, cp.EnvVars), nil
			out[i] = &cp
		case *cli.BoolFlag:
			cp := *f
			cp.Usage, cp.EnvVars = withEnvHint(cp.Usage, cp.EnvVars), nil
			out[i] = &cp
		default:
			panic(fmt.Sprintf("commandLevel: shared setting flag of unexpected type %T", f))
		}
	}
	return out
}

// withEnvHint appends the environment variables to a usage text, as the
// help shows them for flags that have them.
func withEnvHint(usage string, env []string) string {
	if len(env) == 0 {
		return usage
	}
	return usage + " [$" + strings.Join(env, ", $") + "]"
}

func settingString(c *cli.Context, name string) string { return setting(c, name).String(name) }
func settingInt64(c *cli.Context, name string) int64   { return setting(c, name).Int64(name) }
func settingBool(c *cli.Context, name string) bool     { return setting(c, name).Bool(name) }

// readSecretKey takes SECRET_KEY from the file flag or $DJANGO_SECRET_KEY,
// never from argv. One trailing newline is dropped, as editors add one.
func readSecretKey(c *cli.Context) ([]byte, error) {
	if path := settingString(c, flagSecretKeyFile); path != "" {
		b, err := readUserFile("secret key file", path, maxSettingFile)
		if err != nil {
			return nil, err
		}
		b = dropOneNewline(b)
		if len(b) == 0 {
			return nil, usageErrorf("secret key file %s is empty", path)
		}
		return b, nil
	}
	if k, ok := os.LookupEnv(envSecretKey); ok && k != "" {
		return []byte(k), nil
	}
	if k := djangoSecretKey(); k != nil {
		return k, nil
	}
	return nil, usageErrorf("no secret key: set $%s or --%s FILE (a key is never taken from the command line)", envSecretKey, flagSecretKeyFile)
}

func dropOneNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// readFallbackKeys reads SECRET_KEY_FALLBACKS, one key per line; blank lines are skipped.
func readFallbackKeys(c *cli.Context) ([][]byte, error) {
	path := settingString(c, flagFallbacksFile)
	if path == "" {
		return djangoFallbackKeys(), nil
	}
	b, err := readUserFile("secret key fallbacks file", path, maxSettingFile)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line != "" {
			keys = append(keys, []byte(line))
		}
	}
	return keys, nil
}

// newCodec builds the codec from the shared settings.
func newCodec(c *cli.Context) (*codec.Codec, error) {
	if err := applyDjangoSettings(c); err != nil {
		return nil, err
	}
	secret, err := readSecretKey(c)
	if err != nil {
		return nil, err
	}
	fallbacks, err := readFallbackKeys(c)
	if err != nil {
		return nil, err
	}
	alg, err := codec.ParseAlgorithm(settingString(c, flagAlgorithm))
	if err != nil {
		return nil, usageError(err)
	}
	cd, err := codec.New(codec.Config{
		SecretKey:      secret,
		FallbackKeys:   fallbacks,
		KeySalt:        settingString(c, flagKeySalt),
		Algorithm:      alg,
		MaxDecodedSize: settingInt64(c, flagMaxDecoded),
	})
	if err != nil {
		return nil, usageError(err)
	}
	return cd, nil
}

// encodeOptions reads --format, --serializer and --algorithm.
func encodeOptions(c *cli.Context) (codec.EncodeOptions, error) {
	format, err := codec.ParseFormat(settingString(c, flagFormat))
	if err != nil {
		return codec.EncodeOptions{}, usageError(err)
	}
	ser, err := codec.ParseSerializer(settingString(c, flagSerializer))
	if err != nil {
		return codec.EncodeOptions{}, usageError(err)
	}
	alg, err := codec.ParseAlgorithm(settingString(c, flagAlgorithm))
	if err != nil {
		return codec.EncodeOptions{}, usageError(err)
	}
	return codec.EncodeOptions{Format: format, Serializer: ser, Algorithm: alg}, nil
}

// newStore builds the file store from the shared settings.
func newStore(c *cli.Context) (store.Store, error) {
	cd, err := newCodec(c)
	if err != nil {
		return nil, err
	}
	enc, err := encodeOptions(c)
	if err != nil {
		return nil, err
	}
	dir := settingString(c, flagSessionFilePath)
	if dir == "" {
		dir = os.TempDir() // Django's default: tempfile.gettempdir()
	}
	age := settingInt64(c, flagCookieAge)
	if age <= 0 {
		return nil, usageErrorf("--%s must be a positive number of seconds, not %d", flagCookieAge, age)
	}
	st, err := filestore.New(filestore.Config{
		Dir:        dir,
		CookieName: settingString(c, flagCookieName),
		CookieAge:  time.Duration(age) * time.Second,
		Codec:      cd,
		Encode:     enc,
		NoFsync:    settingBool(c, flagNoFsync),
	})
	if err != nil {
		return nil, usageError(err)
	}
	return st, nil
}

// usageErr marks errors the user fixes by changing the command line.
type usageErr struct{ err error }

func (e usageErr) Error() string { return e.err.Error() }
func (e usageErr) Unwrap() error { return e.err }

func usageError(err error) error { return usageErr{err} }
func usageErrorf(format string, args ...any) error {
	return usageErr{fmt.Errorf(format, args...)}
}

// exitError carries an explicit exit code (verify's summary, for example).
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
	case errors.Is(err, store.ErrNotFound):
		return exitNotFound
	case errors.Is(err, codec.ErrInvalidSession), errors.Is(err, codec.ErrUnsupportedValue),
		errors.Is(err, store.ErrInvalidKey), errors.Is(err, store.ErrExists):
		return exitInvalidInput
	}
	return exitError
}
