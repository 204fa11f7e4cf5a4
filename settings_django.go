package main

// --django-settings: the site's own settings, read by running its Python
// (djangosettings), fill in every setting not given explicitly.

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/djangosettings"
)

const (
	flagDjangoSettings = "django-settings"
	flagFromDjango     = "from-django"
	flagPython         = "python"
	flagDjangoProject  = "django-project"
	envSettingsModule  = "DJANGO_SETTINGS_MODULE"
)

func djangoFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagDjangoSettings, Category: settingsCategory,
			Usage: "read SECRET_KEY, SECRET_KEY_FALLBACKS and the SESSION_* settings from the site's settings `MODULE` (runs --python); explicit flags still win"},
		&cli.BoolFlag{Name: flagFromDjango, Category: settingsCategory,
			Usage: "as --django-settings $" + envSettingsModule},
		&cli.StringFlag{Name: flagPython, Category: settingsCategory, EnvVars: []string{"SESSIONFS_PYTHON"}, Value: "python3", TakesFile: true,
			Usage: "the site's Python interpreter `PATH` (its virtualenv's bin/python), for --django-settings"},
		&cli.StringFlag{Name: flagDjangoProject, Category: settingsCategory, EnvVars: []string{"SESSIONFS_DJANGO_PROJECT"}, TakesFile: true,
			Usage: "`DIR` put first on the Python path for --django-settings (where manage.py is; default: the current directory)"},
	}
}

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
	switch {
	case s.FileBackend:
	case s.EngineError != "":
		slog.Warn("cannot check SESSION_ENGINE; assuming the file backend and the default salt",
			"engine", s.SessionEngine, "err", s.EngineError)
	default:
		return usageErrorf("%s: SESSION_ENGINE is %s, not the file backend (django.contrib.sessions.backends.file)", module, s.SessionEngine)
	}
	values := []struct{ flag, value string }{
		{flagSessionFilePath, s.SessionFilePath},
		{flagCookieName, s.CookieName},
		{flagCookieAge, strconv.FormatInt(s.CookieAge, 10)},
		{flagSerializer, s.Serializer},
		{flagKeySalt, s.KeySalt},
	}
	if s.HashingAlgorithm == "sha1" {
		// Django 3.1/3.2 with DEFAULT_HASHING_ALGORITHM = "sha1" (the
		// upgrade transition) writes the legacy format.
		values = append(values, struct{ flag, value string }{flagFormat, "legacy"}, struct{ flag, value string }{flagAlgorithm, "sha1"})
	}
	for _, v := range values {
		if v.value == "" || givenExplicitly(c, v.flag) {
			continue
		}
		if err := c.Set(v.flag, v.value); err != nil {
			return fmt.Errorf("applying Django's setting to --%s: %w", v.flag, err)
		}
	}
	return nil
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
