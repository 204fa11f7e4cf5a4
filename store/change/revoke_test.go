package change_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
	"github.com/sessionfs/sessionfs/store/filestore"
)

// unguarded is a file store that says its writers are unguarded, and
// plays a request in flight: the first time each key in putBack is
// removed, the session is saved back as it was, as Django's cache save
// (GET, then SET) does when a removal falls in between.
type unguarded struct {
	*filestore.FileStore
	putBack map[string]int // key -> how many times it is put back
}

func (u *unguarded) Describe() store.Description {
	d := u.FileStore.Describe()
	d.UnguardedWriters, d.RecheckAfter = true, 20*time.Millisecond
	return d
}

func (u *unguarded) RemoveIf(ctx context.Context, key string, dryRun bool, match func(store.Entry) bool) (store.Removal, error) {
	r, err := u.FileStore.RemoveIf(ctx, key, dryRun, match)
	if err == nil && r.Removed && !dryRun && u.putBack[key] > 0 {
		u.putBack[key]--
		if _, err := u.FileStore.Save(ctx, key, r.JSON, store.SaveOptions{}); err != nil {
			return r, errors.Join(errors.New("putting back"), err)
		}
	}
	return r, err
}

// RevokeUser looks again at what it removed from a store whose writers are
// unguarded, removes what came back (recording it), and looks again at that.
func TestRevokeUserRemovesWhatCameBack(t *testing.T) {
	fs, a, logPath := fixture(t)
	ctx := context.Background()
	st := &unguarded{FileStore: fs, putBack: map[string]int{"revokeback01": 2, "revokeback02": 0}}
	for _, key := range []string{"revokeback01", "revokeback02", "revokeback03"} {
		user := `"42"`
		if key == "revokeback03" {
			user = `"43"`
		}
		if _, err := fs.Save(ctx, key, []byte(`{"_auth_user_id": `+user+`}`), store.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := change.RevokeUser(ctx, st, "42", false, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 2 || len(res.CameBack) != 2 || res.CameBack[0].Key != "revokeback01" || res.CameBack[1].Key != "revokeback01" || len(res.Failed) != 0 {
		t.Fatalf("revoke: removed %d, came back %v, failed %v", len(res.Removed), res.CameBack, res.Failed)
	}
	for _, key := range []string{"revokeback01", "revokeback02"} {
		if _, err := fs.Stat(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after the revoke: %v", key, err)
		}
	}
	if _, err := fs.Stat(ctx, "revokeback03"); err != nil {
		t.Errorf("another user's session: %v", err)
	}
	revokes := 0
	for _, r := range records(t, logPath) {
		if r.Op == "revoke" {
			revokes++
		}
	}
	if revokes != 4 {
		t.Errorf("%d revokes recorded, want 4 (2 removals, 2 put back and removed again)", revokes)
	}
	// A store whose writers are guarded is not looked at again.
	if _, err := fs.Save(ctx, "revokeback01", []byte(`{"_auth_user_id": "42"}`), store.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err = change.RevokeUser(ctx, fs, "42", false, change.Audit{}, nil)
	if err != nil || len(res.Removed) != 1 || len(res.CameBack) != 0 || time.Since(start) > time.Second {
		t.Fatalf("a guarded store: %+v %v", res, err)
	}
}
