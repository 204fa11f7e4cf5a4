package main

// The shared settings: the flags every command accepts before and after its
// name, their environment variables, how a value is chosen (setting: a flag
// beats its environment variable wherever it stands, Django's settings fill
// in what neither gives), and the codec and store built from them.

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/djangosettings"
	"github.com/sessionfs/sessionfs/store"
)

// Shared setting names. Each is accepted before and after the command name;
// most have an environment variable, named after Django's setting.
const (
	flagSecretKeyFile   = "secret-key-file"
	flagFallbacksFile   = "secret-key-fallbacks-file"
	flagKeySalt         = "key-salt"
	flagSerializer      = "serializer"
	flagAlgorithm       = "algorithm"
	flagFormat          = "format"
	flagMaxDecoded      = "max-decoded-size"
	flagSessionFilePath = "session-file-path"
	flagCookieName      = "cookie-name"
	flagCookieAge       = "cookie-age"
	flagNoFsync         = "no-fsync"
	flagSessionEngine   = "session-engine"
	envSecretKey        = "DJANGO_SECRET_KEY"
	settingsCategory    = "Django settings"

	flagDjangoSettings = "django-settings"
	flagFromDjango     = "from-django"
	flagPython         = "python"
	flagDjangoProject  = "django-project"
	envSettingsModule  = "DJANGO_SETTINGS_MODULE"

	flagAuditLog        = "audit-log"
	flagAuditLogContent = "audit-log-content"
	auditCategory       = "Audit"
)

// settingsFlags are the shared settings, in the order the help lists them.
func settingsFlags() []cli.Flag {
	flags := []cli.Flag{
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
		&cli.StringFlag{Name: flagSessionEngine, Category: settingsCategory, EnvVars: []string{"SESSION_ENGINE"}, Value: "file",
			Usage: "SESSION_ENGINE: file, db, cache or cached_db (Django's dotted paths accepted)"},
		&cli.StringFlag{Name: flagSessionFilePath, Category: settingsCategory, EnvVars: []string{"SESSION_FILE_PATH"},
			Usage: "the backing directory of Django's file session backend (default: the system temp dir, as Django)"},
		&cli.StringFlag{Name: flagCookieName, Category: settingsCategory, EnvVars: []string{"SESSION_COOKIE_NAME"}, Value: store.DefaultCookieName,
			Usage: "SESSION_COOKIE_NAME: the prefix of every session file name"},
		&cli.Int64Flag{Name: flagCookieAge, Category: settingsCategory, EnvVars: []string{"SESSION_COOKIE_AGE"}, Value: int64(store.DefaultCookieAge / time.Second),
			Usage: "SESSION_COOKIE_AGE in seconds: a session without _session_expiry expires at mtime + this"},
		&cli.BoolFlag{Name: flagNoFsync, Category: settingsCategory, EnvVars: []string{"SESSIONFS_NO_FSYNC"},
			Usage: "do not fsync saved sessions and the directory (faster, as Django; a power loss may lose a save)"},
		&cli.StringFlag{Name: flagDjangoSettings, Category: settingsCategory,
			Usage: "read SECRET_KEY, SECRET_KEY_FALLBACKS and the SESSION_* settings from the site's settings `MODULE` (runs --python); explicit flags still win"},
		&cli.BoolFlag{Name: flagFromDjango, Category: settingsCategory,
			Usage: "as --django-settings $" + envSettingsModule},
		&cli.StringFlag{Name: flagPython, Category: settingsCategory, EnvVars: []string{"SESSIONFS_PYTHON"}, Value: "python3", TakesFile: true,
			Usage: "the site's Python interpreter `PATH` (its virtualenv's bin/python), for --django-settings"},
		&cli.StringFlag{Name: flagDjangoProject, Category: settingsCategory, EnvVars: []string{"SESSIONFS_DJANGO_PROJECT"}, TakesFile: true,
			Usage: "`DIR` put first on the Python path for --django-settings (where manage.py is; default: the current directory)"},
		&cli.StringFlag{Name: flagAuditLog, Category: auditCategory, EnvVars: []string{"SESSIONFS_AUDIT_LOG"}, TakesFile: true,
			Usage: "append one JSON line per change (put, rm, gc, revoke, rekey; the mount's writes) to `FILE` (created 0600)"},
		&cli.BoolFlag{Name: flagAuditLogContent, Category: auditCategory, EnvVars: []string{"SESSIONFS_AUDIT_LOG_CONTENT"},
			Usage: "also log session contents (before and after) in the audit log; off by default: sessions hold personal data"},
	}
	flags = append(flags, dbFlags()...)
	return append(flags, cacheSettingsFlags()...)
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

// givenExplicitly reports whether a setting was given on the command line
// or in the environment, at any level.
func givenExplicitly(c *cli.Context, name string) bool {
	for _, ctx := range c.Lineage() {
		if flagSetLocally(ctx, name) {
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
		case *cli.StringSliceFlag:
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

func settingInt64(c *cli.Context, name string) int64 { return setting(c, name).Int64(name) }

func settingBool(c *cli.Context, name string) bool { return setting(c, name).Bool(name) }

// djangoLoaded holds the settings read from Django, once per process.
var djangoLoaded struct {
	sync.Mutex
	module   string
	settings *djangosettings.Settings
}

// djangoModule is the settings module to read, "" for none.
func djangoModule(c *cli.Context) (string, error) {
	if m := settingString(c, flagDjangoSettings); m != "" {
		return m, nil
	}
	if !settingBool(c, flagFromDjango) {
		return "", nil
	}
	m := os.Getenv(envSettingsModule)
	if m == "" {
		return "", usageErrorf("--%s: $%s is not set", flagFromDjango, envSettingsModule)
	}
	return m, nil
}

// applyDjangoSettings reads the site's settings (when --django-settings or
// --from-django is given) and makes them the values of every setting flag
// not given on the command line or in the environment. The secret keys are
// kept for djangoSecretKey and djangoFallbackKeys: they never become flag
// values. Calling it again is cheap.
func applyDjangoSettings(c *cli.Context) error {
	module, err := djangoModule(c)
	if err != nil || module == "" {
		return err
	}
	djangoLoaded.Lock()
	defer djangoLoaded.Unlock()
	if djangoLoaded.settings == nil || djangoLoaded.module != module {
		s, err := djangosettings.Read(c.Context, djangosettings.Options{
			Module:  module,
			Python:  settingString(c, flagPython),
			Project: settingString(c, flagDjangoProject),
		})
		if err != nil {
			return err
		}
		djangoLoaded.module, djangoLoaded.settings = module, s
	}
	s := djangoLoaded.settings
	engine := s.SessionEngine
	_, known := engines[engine]
	switch {
	case s.Backend != "":
		// The backend its SessionStore is: a project's own subclass of
		// Django's db store is served as db, its table read below.
		if !known {
			engine = s.Backend
		}
	case s.EngineError != "" && known:
		slog.Warn("cannot check SESSION_ENGINE; assuming Django's engine of that name and the default salt",
			"engine", s.SessionEngine, "err", s.EngineError)
	case s.EngineError != "":
		slog.Warn("cannot check SESSION_ENGINE; assuming the file backend and the default salt",
			"engine", s.SessionEngine, "err", s.EngineError)
		engine = ""
	}
	if !givenExplicitly(c, flagSessionEngine) && engine != "" {
		if err := c.Set(flagSessionEngine, engine); err != nil {
			return fmt.Errorf("applying Django's setting to --%s: %w", flagSessionEngine, err)
		}
	}
	values := []djangoValue{
		{flagSessionFilePath, s.SessionFilePath},
		{flagCookieName, s.CookieName},
		{flagCookieAge, strconv.FormatInt(s.CookieAge, 10)},
		{flagSerializer, s.Serializer},
		{flagKeySalt, s.KeySalt},
		{flagDBTable, s.SessionTable},
		{flagTimeZone, s.TimeZone},
	}
	if s.Database != nil {
		// USE_TZ matters only to the database backends; a file site's
		// reading leaves --use-tz alone.
		values = append(values, djangoValue{flagUseTZ, strconv.FormatBool(s.UseTZ)})
	}
	if s.HashingAlgorithm == "sha1" {
		// Django 3.1/3.2 with DEFAULT_HASHING_ALGORITHM = "sha1" (the
		// upgrade transition) writes the legacy format.
		values = append(values, djangoValue{flagFormat, "legacy"}, djangoValue{flagAlgorithm, "sha1"})
	}
	return fillFromDjango(c, values, "setting")
}

// djangoValue is a setting read from Django, as the flag it fills.
type djangoValue struct{ flag, value string }

// fillFromDjango sets each flag to its value unless the value is empty or
// the flag was given explicitly before any was set (so a repeatable flag
// takes every value Django gives it). what names the source in errors.
func fillFromDjango(c *cli.Context, values []djangoValue, what string) error {
	given := map[string]bool{}
	for _, v := range values {
		given[v.flag] = givenExplicitly(c, v.flag)
	}
	for _, v := range values {
		if v.value == "" || given[v.flag] {
			continue
		}
		if err := c.Set(v.flag, v.value); err != nil {
			return fmt.Errorf("applying Django's %s to --%s: %w", what, v.flag, err)
		}
	}
	return nil
}

// djangoSecretKey is SECRET_KEY as read from Django, nil when not read.
func djangoSecretKey() []byte {
	djangoLoaded.Lock()
	defer djangoLoaded.Unlock()
	if djangoLoaded.settings == nil || len(djangoLoaded.settings.SecretKey) == 0 {
		return nil
	}
	return djangoLoaded.settings.SecretKey
}

// djangoFallbackKeys is SECRET_KEY_FALLBACKS as read from Django.
func djangoFallbackKeys() [][]byte {
	djangoLoaded.Lock()
	defer djangoLoaded.Unlock()
	if djangoLoaded.settings == nil {
		return nil
	}
	return djangoLoaded.settings.FallbackKeys
}

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
	alg, err := algorithm(c)
	if err != nil {
		return nil, err
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
	alg, err := algorithm(c)
	if err != nil {
		return codec.EncodeOptions{}, err
	}
	return codec.EncodeOptions{Format: format, Serializer: ser, Algorithm: alg}, nil
}

// algorithm reads --algorithm, the signature hash.
func algorithm(c *cli.Context) (codec.Algorithm, error) {
	alg, err := codec.ParseAlgorithm(settingString(c, flagAlgorithm))
	if err != nil {
		return 0, usageError(err)
	}
	return alg, nil
}
