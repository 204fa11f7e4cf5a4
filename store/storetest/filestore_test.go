package storetest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store/filestore"
	"github.com/sessionfs/sessionfs/store/storetest"
)

// TestFileStore: the file backend, the reference the contract was written
// from, passes the suite: the suite encodes its semantics.
func TestFileStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Instance {
		c, err := codec.New(codec.Config{SecretKey: []byte("storetest-secret-key-0123456789")})
		if err != nil {
			t.Fatal(err)
		}
		st, err := filestore.New(filestore.Config{Dir: t.TempDir(), Codec: c, NoFsync: true, MaxFileSize: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		cfg := st.Config()
		return storetest.Instance{
			Store:     st,
			CookieAge: cfg.CookieAge,
			MaxSize:   cfg.MaxFileSize,
			// Django's save path: a temp file renamed over the session.
			Write: func(t *testing.T, key string, raw []byte) {
				t.Helper()
				tmp, err := os.CreateTemp(cfg.Dir, cfg.CookieName+key+"_out_")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tmp.Write(raw); err != nil {
					t.Fatal(err)
				}
				if err := tmp.Close(); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp.Name(), filepath.Join(cfg.Dir, cfg.CookieName+key)); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
