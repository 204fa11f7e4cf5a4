package cachestore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/cachestore"
)

// A server that cannot be reached is store.ErrUnavailable, which the mount
// answers with EIO without calling it an unmapped error.
func TestUnreachableServerIsUnavailable(t *testing.T) {
	for _, url := range []string{"redis://127.0.0.1:1/0", "memcached://127.0.0.1:1"} {
		loc, err := cachestore.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		c, err := cachestore.Open(cachestore.Config{Location: loc, Metadump: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Get(context.Background(), "abcdefgh12345678")
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: Get: %v, want store.ErrUnavailable", url, err)
		}
		if err := c.Scan(context.Background(), func(cachestore.Item) error { return nil }); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: Scan: %v, want store.ErrUnavailable", url, err)
		}
		c.Close()
	}
}
