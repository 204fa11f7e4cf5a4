// Package harness runs real Django installations and the built sessionfs
// binary for sessionfs's integration tests.
//
// Django 3.2 is Debian bookworm's python3-django under /usr/bin/python3;
// Django 4.2 and 5.2 are Debian trixie's and sid's packages unpacked by
// integration/scripts/install-deps.sh into $SESSIONFS_DJANGO_CACHE
// (default /var/cache/sessionfs/django/<major.minor>/).
package harness

import (
	"os"
	"testing"
)

// InstallHint is the command that installs every prerequisite these tests use.
const InstallHint = "sudo integration/scripts/install-deps.sh (from the repository root; make test runs it)"

// CI reports whether we run under CI (env CI=true), where a missing
// prerequisite is a failure, never a skip.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing skips t because a prerequisite is absent, or fails it under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf("missing prerequisite (CI=true, not skipping): "+format, args...)
	}
	t.Skipf("missing prerequisite: "+format, args...)
}
