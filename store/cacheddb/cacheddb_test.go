package cacheddb_test

import (
	"context"
	"errors"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/cacheddb"
	"github.com/sessionfs/sessionfs/store/cachestore"
	"github.com/sessionfs/sessionfs/store/cachestore/cachetest"
	"github.com/sessionfs/sessionfs/store/change"
	"github.com/sessionfs/sessionfs/store/filestore"
)

func TestMain(m *testing.M) { os.Exit(cachetest.Main(m)) }

var ctx = context.Background()

// site is a cached_db site: rows in a file store standing in for the
// database table (the composition sees only store.Store), copies in Redis
// or Memcached.
type site struct {
	st    *cacheddb.Store
	rows  *rowWatch
	cache cachestore.Client
	cc    *codec.CacheCodec
}

// rowWatch is the row store, noting whether the cache copy was still there
// when a row was removed (Django's order: the row, then the copy).
type rowWatch struct {
	*filestore.FileStore
	cache         cachestore.Client
	copyAtRemoval map[string]bool
}

func (w *rowWatch) RemoveIf(ctx context.Context, key string, dryRun bool, match func(store.Entry) bool) (store.Removal, error) {
	r, err := w.FileStore.RemoveIf(ctx, key, dryRun, match)
	if r.Removed && !dryRun {
		_, getErr := w.cache.Get(ctx, key)
		w.copyAtRemoval[key] = getErr == nil
	}
	return r, err
}

func newSite(t *testing.T, url string, client codec.CacheClient) *site {
	t.Helper()
	cd, err := codec.New(codec.Config{SecretKey: []byte("cacheddb-test-secret-key")})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := filestore.New(filestore.Config{Dir: t.TempDir(), Codec: cd, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	loc, err := cachestore.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cachestore.Open(cachestore.Config{Location: loc, KeyPrefix: cachetest.Prefix(t), CachedDB: true, Metadump: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cc, err := codec.NewCacheCodec(codec.CacheValueOptions{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	rows := &rowWatch{FileStore: fs, cache: c, copyAtRemoval: map[string]bool{}}
	st, err := cacheddb.New(cacheddb.Config{Rows: rows, Cache: c, Codec: cc, RecheckAfter: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return &site{st: st, rows: rows, cache: c, cc: cc}
}

// djangoSave saves a session as Django's cached_db save does: the row, then
// the copy (pickled dict) with the row's remaining life.
func (s *site) djangoSave(t *testing.T, key, js string) store.Saved {
	t.Helper()
	saved, err := s.rows.Save(ctx, key, []byte(js), store.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.putCopy(t, key, js)
	return saved
}

// putCopy stores a cache copy as Django's cache.set does (create or replace).
func (s *site) putCopy(t *testing.T, key, js string) {
	t.Helper()
	value, flags, err := s.cc.Encode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	s.cache.Delete(ctx, key)
	if _, err := s.cache.Add(ctx, key, value, flags, time.Hour); err != nil {
		t.Fatal(err)
	}
}

func (s *site) hasCopy(t *testing.T, key string) bool {
	t.Helper()
	_, err := s.cache.Get(ctx, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func sites(t *testing.T) map[string]*site {
	return map[string]*site{
		"redis":     newSite(t, cachetest.Redis(t).URL(), codec.ClientRedisCache),
		"memcached": newSite(t, cachetest.Memcached(t).URL(), codec.ClientMemcached),
	}
}

// Edits change the row and delete the copy (never write one); rm deletes
// the row, then the copy; renew and rename delete the copies.
func TestChangesGoToTheRowAndDropTheCopy(t *testing.T) {
	for name, s := range sites(t) {
		t.Run(name, func(t *testing.T) {
			const a, b, c = "cacheddba0000000000000000000000a", "cacheddbb0000000000000000000000b", "cacheddbc0000000000000000000000c"
			saved := s.djangoSave(t, a, `{"_auth_user_id": "42", "n": 1}`)
			edited, err := s.st.Save(ctx, a, []byte(`{"_auth_user_id": "42", "n": 2}`), store.SaveOptions{IfMatch: saved.Version, KeepExpiry: true})
			if err != nil {
				t.Fatal(err)
			}
			if s.hasCopy(t, a) {
				t.Error("the cache copy survived an edit: Django would serve the old session")
			}
			sess, err := s.st.Load(ctx, a)
			if err != nil || string(sess.JSON) != `{"_auth_user_id":"42","n":2}` || sess.Version != edited.Version {
				t.Fatalf("load after edit: %+v %v", sess, err)
			}
			if _, err := s.st.Save(ctx, a, []byte(`{"lost": 1}`), store.SaveOptions{IfMatch: saved.Version}); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("a stale edit: %v", err)
			}
			if dry, err := s.st.Save(ctx, a, []byte(`{"n": 3}`), store.SaveOptions{DryRun: true}); err != nil || dry.Raw == nil {
				t.Fatalf("dry run: %v", err)
			}

			s.putCopy(t, a, `{"_auth_user_id": "42", "n": 2}`)
			if _, err := s.st.Renew(ctx, a, time.Now(), store.Version{}); err != nil {
				t.Fatal(err)
			}
			if s.hasCopy(t, a) {
				t.Error("the cache copy survived a renewal")
			}
			s.putCopy(t, a, `{"_auth_user_id": "42", "n": 2}`)
			if _, err := s.st.Rename(ctx, a, b); err != nil {
				t.Fatal(err)
			}
			if s.hasCopy(t, a) {
				t.Error("the old key's cache copy survived a rename: Django would still serve it")
			}

			s.djangoSave(t, c, `{"_auth_user_id": "7"}`)
			r, err := s.st.RemoveIf(ctx, c, false, func(e store.Entry) bool { return e.UserID == "7" })
			if err != nil || !r.Removed {
				t.Fatalf("rm: %+v %v", r, err)
			}
			if !s.rows.copyAtRemoval[c] {
				t.Error("the copy was deleted before the row (a request could cache the row again before it goes)")
			}
			if s.hasCopy(t, c) {
				t.Error("the cache copy survived rm")
			}
			if _, err := s.st.Stat(ctx, c); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the row survived rm: %v", err)
			}
			d := s.st.Describe()
			if d.Backend != "cached_db" || !d.Signed || !d.UnguardedWriters {
				t.Errorf("Describe: %+v", d)
			}
		})
	}
}

// Copies that differ from their rows are counted and listed; equal ones
// (a tuple in the copy is the list the row's JSON holds) are not.
func TestDivergentCopies(t *testing.T) {
	for name, s := range sites(t) {
		t.Run(name, func(t *testing.T) {
			keys := map[string]string{
				"same": "divsame000000000000000000000000a", "tuple": "divtuple00000000000000000000000a",
				"differs": "divdiffers000000000000000000000a", "orphan": "divorphan0000000000000000000000a",
				"invalid": "divinvalid000000000000000000000a", "nocopy": "divnocopy0000000000000000000000a",
			}
			s.djangoSave(t, keys["same"], `{"_auth_user_id": "1", "cart": [1, 2]}`)
			s.rows.Save(ctx, keys["tuple"], []byte(`{"pair": [1, "x"]}`), store.SaveOptions{})
			s.putCopy(t, keys["tuple"], `{"pair": {"$tuple": [1, "x"]}}`)
			s.djangoSave(t, keys["differs"], `{"_auth_user_id": "2"}`)
			s.putCopy(t, keys["differs"], `{"_auth_user_id": "3"}`) // the row edited behind Django's back, or the copy
			s.putCopy(t, keys["orphan"], `{"_auth_user_id": "4"}`)  // the row deleted behind Django's back
			s.rows.Save(ctx, keys["invalid"], []byte(`{}`), store.SaveOptions{})
			if _, err := s.cache.Add(ctx, keys["invalid"], []byte("\x80\x05garbage"), 1, time.Hour); err != nil {
				t.Fatal(err)
			}
			s.rows.Save(ctx, keys["nocopy"], []byte(`{}`), store.SaveOptions{})

			got := map[string]string{}
			if err := s.st.Divergent(ctx, func(d cacheddb.Divergence) error { got[d.Key] = d.Problem; return nil }); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{keys["differs"]: cacheddb.CopyDiffers, keys["orphan"]: cacheddb.CopyOnly, keys["invalid"]: cacheddb.CopyInvalid}
			if len(got) != len(want) {
				t.Errorf("divergent %v, want %v", got, want)
			}
			for k, p := range want {
				if got[k] != p {
					t.Errorf("%s: %q, want %q", k, got[k], p)
				}
			}
			st, err := s.st.Stats(ctx, nil)
			if err != nil || st.CacheDiffers == nil || *st.CacheDiffers != 3 || st.Sessions != 5 {
				t.Fatalf("stats: %+v %v", st, err)
			}
		})
	}
}

// A revoke removes rows and copies, and a copy that a request in flight
// puts back (its cache SET after the revoke) is found and removed again,
// though its row is gone.
func TestRevokeRemovesCopyPutBack(t *testing.T) {
	for name, s := range sites(t) {
		t.Run(name, func(t *testing.T) {
			const a, b, other = "revokea000000000000000000000000a", "revokeb000000000000000000000000b", "revokeother00000000000000000000a"
			s.djangoSave(t, a, `{"_auth_user_id": "42", "n": 1}`)
			s.djangoSave(t, b, `{"_auth_user_id": "42", "n": 2}`)
			s.djangoSave(t, other, `{"_auth_user_id": "43"}`)
			res, err := change.RevokeUser(ctx, s.st, "42", false, change.Audit{}, func(r store.Removal) {
				if r.Key == a {
					s.putCopy(t, a, `{"_auth_user_id": "42", "n": 1, "saved": "by a request in flight"}`)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			var removed []string
			for _, r := range res.Removed {
				removed = append(removed, r.Key)
			}
			sort.Strings(removed)
			if len(removed) != 2 || len(res.CameBack) != 1 || res.CameBack[0].Key != a || res.CameBack[0].UserID != "42" || len(res.Failed) != 0 {
				t.Fatalf("revoke: removed %v, came back %+v, failed %v", removed, res.CameBack, res.Failed)
			}
			for _, k := range []string{a, b} {
				if s.hasCopy(t, k) {
					t.Errorf("%s: a cache copy is left for Django to serve", k)
				}
			}
			if !s.hasCopy(t, other) {
				t.Error("another user's copy was removed")
			}
			// A copy of another user under a key without a row is kept.
			s.putCopy(t, a, `{"_auth_user_id": "43"}`)
			if r, err := s.st.RemoveIf(ctx, a, false, func(e store.Entry) bool { return e.UserID == "42" }); err != nil || r.Removed || r.UserID != "43" {
				t.Fatalf("RemoveIf of another user's copy: %+v %v", r, err)
			}
		})
	}
}

func TestNewRefusesCacheKeys(t *testing.T) {
	loc, _ := cachestore.ParseURL(cachetest.Redis(t).URL())
	c, err := cachestore.Open(cachestore.Config{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cc, _ := codec.NewCacheCodec(codec.CacheValueOptions{Client: codec.ClientRedisCache})
	cd, _ := codec.New(codec.Config{SecretKey: []byte("k")})
	fs, _ := filestore.New(filestore.Config{Dir: t.TempDir(), Codec: cd})
	if _, err := cacheddb.New(cacheddb.Config{Rows: fs, Cache: c, Codec: cc}); err == nil {
		t.Fatal("a client of backends.cache's keys accepted")
	}
}
