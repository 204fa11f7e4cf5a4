// Package dbcli tests the sessionfs binary (every CLI command, and the
// mount) over Django's database session backend: real Django 3.2, 4.2 and
// 5.2 writing and reading sessions in SQLite files and in private
// PostgreSQL and MariaDB servers started by dbtest.
package dbcli

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
