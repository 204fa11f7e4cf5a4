// Package dbinterop tests store/dbstore against real database servers
// (private PostgreSQL 15 and MariaDB instances started by dbtest, SQLite
// files) and real Django 3.2, 4.2 and 5.2 reading and writing the same
// session tables.
package dbinterop

import (
	"os"
	"testing"

	"github.com/sessionfs/sessionfs/integration/dbtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	dbtest.Shutdown()
	os.Exit(code)
}
