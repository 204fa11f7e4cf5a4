package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/store"
)

// demoCommand is `sessionfs demo`.
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:   "demo",
		Usage:  "mount ./mnt over ./.sessions with a development key and a few demo sessions (make run)",
		Flags:  mountFlags(),
		Action: demoAction,
	}
}

// Demo defaults: `make run` works with no flags on a fresh checkout.
const (
	demoBacking = ".sessions"
	demoKeyFile = ".sessions.key"
	demoMount   = "mnt"
)

// demoAction prepares ./.sessions, a development secret key beside it
// (0600, generated once) and ./mnt, adds a few sessions when the backing
// directory is empty, and serves the mount like `mount`.
func demoAction(c *cli.Context) error {
	if !givenExplicitly(c, flagSessionFilePath) {
		if err := os.MkdirAll(demoBacking, 0o700); err != nil {
			return fmt.Errorf("demo backing directory: %w", err)
		}
		if err := c.Set(flagSessionFilePath, demoBacking); err != nil {
			return err
		}
	}
	if !givenExplicitly(c, flagSecretKeyFile) && os.Getenv(envSecretKey) == "" {
		if err := ensureDemoKey(demoKeyFile); err != nil {
			return err
		}
		if err := c.Set(flagSecretKeyFile, demoKeyFile); err != nil {
			return err
		}
	}
	mnt := demoMount
	if c.NArg() > 0 {
		mnt = c.Args().First()
	}
	if err := os.MkdirAll(mnt, 0o700); err != nil && !errors.Is(err, syscall.ENOTCONN) && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("demo mount point: %w", err)
	}
	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := seedDemoSessions(c.Context, st)
	if err != nil {
		return err
	}
	return serve(c, st, mnt, demoBanner(st.Describe().Dir, mnt, keys))
}

// ensureDemoKey writes a random development SECRET_KEY to path unless it exists.
func ensureDemoKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)"
	key := []byte(rand.Text() + rand.Text())
	for i := range key {
		key[i] = alphabet[int(key[i])%len(alphabet)]
	}
	if err := os.WriteFile(path, append(key, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing the demo secret key: %w", err)
	}
	return nil
}

// demoSessions are what a small Django site keeps in sessions.
var demoSessions = []string{
	`{"_auth_user_id": "1", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend", "_auth_user_hash": "5f4dcc3b5aa765d61d8327deb882cf99", "theme": "dark"}`,
	`{"cart": [{"sku": "TEA-42", "qty": 2}, {"sku": "MUG-7", "qty": 1}], "currency": "EUR"}`,
	`{"_auth_user_id": "42", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend", "_auth_user_hash": "0d107d09f5bbe40cade3de5c71e9e9b7", "django_language": "fr", "visits": 17}`,
}

// seedDemoSessions saves the demo sessions when the directory has none and
// returns the keys of the sessions it holds.
func seedDemoSessions(ctx context.Context, st store.Store) ([]string, error) {
	var keys []string
	err := st.Scan(ctx, func(e store.Entry) error {
		keys = append(keys, e.Key)
		return nil
	})
	if err != nil || len(keys) > 0 {
		return keys, err
	}
	for _, js := range demoSessions {
		key := demoKey()
		if _, err := st.Save(ctx, key, []byte(js), store.SaveOptions{MustCreate: true}); err != nil {
			return nil, fmt.Errorf("creating demo session: %w", err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// demoKey is a new key as Django makes them: 32 characters of [a-z0-9].
func demoKey() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte(rand.Text() + rand.Text())[:32]
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

func demoBanner(backing, mnt string, keys []string) string {
	key := "KEY"
	if len(keys) > 0 {
		key = keys[0]
	}
	return fmt.Sprintf(`
Try, in another shell:
  ls -l %[2]s
  cat %[2]s/%[3]s.json
  sed -i 's/"dark"/"light"/' %[2]s/%[3]s.json     # edit in place; invalid JSON is refused (EINVAL)
  vim %[2]s/%[3]s.json
  rm %[2]s/%[3]s.json                               # logs that user out
Point Django at the backing directory to serve these sessions:
  SESSION_ENGINE = "django.contrib.sessions.backends.file"
  SESSION_FILE_PATH = %[1]q
  SECRET_KEY = open(%[4]q).read().strip()
Ctrl-C unmounts.
`, absPath(backing), mnt, key, absPath(demoKeyFile))
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
