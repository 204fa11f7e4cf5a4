package dbstore_test

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
