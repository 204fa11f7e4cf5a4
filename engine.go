package main

// SESSION_ENGINE: which of Django's session backends the sessions are in,
// and the one place a store is chosen from it.

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/dbstore"
	"github.com/sessionfs/sessionfs/store/filestore"
)

// engineKind is a session backend sessionfs serves.
type engineKind int

const (
	engineFile     engineKind = iota // django.contrib.sessions.backends.file
	engineDB                         // backends.db: a table of rows
	engineCache                      // backends.cache: values in a cache server
	engineCachedDB                   // backends.cached_db: rows, with copies in a cache
)

func (k engineKind) String() string {
	return [...]string{"file", "db", "cache", "cached_db"}[k]
}

// sessionEngine is a SESSION_ENGINE sessionfs serves: the backend, and the
// table of the engine's session model when it is not Django's.
type sessionEngine struct {
	Kind  engineKind
	Table string // the engine model's db_table; "" for Django's django_session
}

// engines maps every SESSION_ENGINE value sessionfs serves, short names
// included, to its backend. Third-party engines whose SessionStore is
// Django's db backend over another model map to db with that model's table.
var engines = map[string]sessionEngine{
	"file":                                   {Kind: engineFile},
	"django.contrib.sessions.backends.file":  {Kind: engineFile},
	"db":                                     {Kind: engineDB},
	"django.contrib.sessions.backends.db":    {Kind: engineDB},
	"user_sessions.backends.db":              {Kind: engineDB, Table: "user_sessions_session"},
	"qsessions.backends.db":                  {Kind: engineDB, Table: "qsessions_session"},
	"cache":                                  {Kind: engineCache},
	"django.contrib.sessions.backends.cache": {Kind: engineCache},
	"cached_db":                              {Kind: engineCachedDB},
	"django.contrib.sessions.backends.cached_db": {Kind: engineCachedDB},
	"qsessions.backends.cached_db":               {Kind: engineCachedDB, Table: "qsessions_session"},
}

// unservable says why an engine Django ships has nothing sessionfs could
// mount.
var unservable = map[string]string{
	"django.contrib.sessions.backends.signed_cookies": "its sessions live in the browsers' cookies, not on the server",
	"signed_cookies": "its sessions live in the browsers' cookies, not on the server",
}

// parseEngine returns the engine named by a SESSION_ENGINE value.
func parseEngine(name string) (sessionEngine, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return engines["file"], nil
	}
	if e, ok := engines[name]; ok {
		return e, nil
	}
	var names []string
	for n := range engines {
		if strings.Contains(n, ".") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if why, ok := unservable[name]; ok {
		return sessionEngine{}, usageErrorf("SESSION_ENGINE %s cannot be served: %s", name, why)
	}
	return sessionEngine{}, usageErrorf("SESSION_ENGINE %q is not one sessionfs serves; it serves file, db, cache, cached_db and %s",
		name, strings.Join(names, ", "))
}

// openStore opens the store of the configured engine: the one place a
// backend is chosen.
func openStore(c *cli.Context) (store.Store, error) {
	// Django's settings may name the engine.
	if err := applyDjangoSettings(c); err != nil {
		return nil, err
	}
	eng, err := parseEngine(settingString(c, flagSessionEngine))
	if err != nil {
		return nil, err
	}
	switch eng.Kind {
	case engineDB:
		st, err := openDBStore(c, eng)
		if err != nil {
			return nil, err
		}
		return st, nil
	case engineCache, engineCachedDB:
		return openCacheStore(c, eng)
	default:
		return openFileStore(c)
	}
}

// openFileStore opens the file backend's directory.
func openFileStore(c *cli.Context) (store.Store, error) {
	sg, err := signedSettings(c)
	if err != nil {
		return nil, err
	}
	dir := settingString(c, flagSessionFilePath)
	if dir == "" {
		dir = os.TempDir() // Django's default: tempfile.gettempdir()
	}
	st, err := filestore.New(filestore.Config{
		Dir:        dir,
		CookieName: settingString(c, flagCookieName),
		CookieAge:  sg.age,
		Codec:      sg.codec,
		Encode:     sg.encode,
		NoFsync:    settingBool(c, flagNoFsync),
	})
	if err != nil {
		return nil, usageError(err)
	}
	return st, nil
}

// signed is what a backend of signed sessions (file, db) needs of the
// settings: the codec, how to encode, and SESSION_COOKIE_AGE.
type signed struct {
	codec  *codec.Codec
	encode codec.EncodeOptions
	age    time.Duration
}

// signedSettings reads them.
func signedSettings(c *cli.Context) (signed, error) {
	cd, err := newCodec(c)
	if err != nil {
		return signed{}, err
	}
	enc, err := encodeOptions(c)
	if err != nil {
		return signed{}, err
	}
	age, err := cookieAge(c)
	if err != nil {
		return signed{}, err
	}
	return signed{codec: cd, encode: enc, age: age}, nil
}

// cookieAge is SESSION_COOKIE_AGE, which every backend's expiry needs.
func cookieAge(c *cli.Context) (time.Duration, error) {
	age := settingInt64(c, flagCookieAge)
	if age <= 0 {
		return 0, usageErrorf("--%s must be a positive number of seconds, not %d", flagCookieAge, age)
	}
	return time.Duration(age) * time.Second, nil
}

// openDBStore opens the table of Django's database backend (also the rows
// of cached_db).
func openDBStore(c *cli.Context, eng sessionEngine) (*dbstore.Sessions, error) {
	cfg, err := dbConfig(c, eng)
	if err != nil {
		return nil, err
	}
	sg, err := signedSettings(c)
	if err != nil {
		return nil, err
	}
	db, err := dbstore.Open(c.Context, cfg)
	if err != nil {
		// dbstore's messages name the server and the cause, never the
		// password; the error kinds choose the exit code.
		if errors.Is(err, dbstore.ErrAuth) {
			return nil, fmt.Errorf("session database: the server refused the login (check the user and the password): %w", err)
		}
		return nil, fmt.Errorf("session database: %w", err)
	}
	st, err := dbstore.NewSessions(db, dbstore.SessionConfig{CookieAge: sg.age, Codec: sg.codec, Encode: sg.encode})
	if err != nil {
		db.Close()
		return nil, usageError(err)
	}
	return st, nil
}

var errNotWired = fmt.Errorf("not served yet")
