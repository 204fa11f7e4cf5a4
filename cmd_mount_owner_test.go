package main

import (
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestMountOwnerFlags: --uid, --gid and --umask (and their env vars) parse
// into what the mount presents; the mounting user's ids and umask 0077 by
// default; nonsense is a usage error naming the flag.
func TestMountOwnerFlags(t *testing.T) {
	parse := func(env []string, args ...string) (uid, gid, umask uint32, err error) {
		t.Helper()
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		app := &cli.App{Flags: mountFlags(), Action: func(c *cli.Context) error {
			uid, gid, umask, err = mountOwner(c)
			return nil
		}}
		if runErr := app.Run(append([]string{"sessionfs"}, args...)); runErr != nil {
			t.Fatalf("%v: %v", args, runErr)
		}
		return
	}
	if uid, gid, umask, err := parse(nil); err != nil || uid != uint32(os.Getuid()) || gid != uint32(os.Getgid()) || umask != 0o077 {
		t.Errorf("defaults: %d %d %04o %v", uid, gid, umask, err)
	}
	if uid, gid, umask, err := parse(nil, "--uid", "33", "--gid", "0", "--umask", "0027"); err != nil || uid != 33 || gid != 0 || umask != 0o027 {
		t.Errorf("flags: %d %d %04o %v", uid, gid, umask, err)
	}
	if uid, gid, umask, err := parse([]string{"SESSIONFS_UID=1000", "SESSIONFS_GID=33", "SESSIONFS_UMASK=007"}); err != nil || uid != 1000 || gid != 33 || umask != 0o007 {
		t.Errorf("env: %d %d %04o %v", uid, gid, umask, err)
	}
	for _, args := range [][]string{{"--umask", "0999"}, {"--umask", "01777"}, {"--umask", "rwx"}, {"--uid", "-2"}, {"--gid", "4294967295"}} {
		if _, _, _, err := parse(nil, args...); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: %v, want a usage error naming the flag", args, err)
		}
	}
}
