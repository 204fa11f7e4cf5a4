package filestore

import (
	"bytes"
	"context"
	"errors"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/change"
	"os"
	"reflect"
	"sort"
	"testing"
)

func TestRevokeUser(t *testing.T) {
	s, _ := opsFixture(t)
	ctx := context.Background()
	before := map[string][]byte{}
	for _, key := range []string{keyLogin, keyLegacy42} {
		data, err := os.ReadFile(s.path(key))
		if err != nil {
			t.Fatal(err)
		}
		before[key] = data
	}

	snap := snapshot(t, s.cfg.Dir)
	dry, err := change.RevokeUser(ctx, s, "42", true, change.Audit{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertSameSnapshot(t, snap, snapshot(t, s.cfg.Dir))
	if got := removedKeys(dry); !reflect.DeepEqual(got, []string{keyLogin, keyLegacy42}) { // sorted
		t.Errorf("dry run would remove %v, want %s and %s", got, keyLegacy42, keyLogin)
	}

	var called []string
	res, err := change.RevokeUser(ctx, s, "42", false, change.Audit{}, func(r store.Removal) { called = append(called, r.Key) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Found != 2 || len(res.Failed) != 0 || len(called) != 2 {
		t.Errorf("revoke: found %d, failed %v, callback for %v", res.Found, res.Failed, called)
	}
	for _, r := range res.Removed {
		if !bytes.Equal(r.Raw, before[r.Key]) {
			t.Errorf("%s: Raw is not the deleted file's bytes", r.Key)
		}
		if r.UserID != "42" || r.JSON == nil {
			t.Errorf("%s: removal reports user %q, JSON %s", r.Key, r.UserID, r.JSON)
		}
		if _, err := os.Lstat(s.path(r.Key)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", r.Key, err)
		}
	}
	for _, key := range []string{keySmall, keyUserSeven, keyExpired, keyOtherSite, keyCorrupt, keyEmpty} {
		if _, err := os.Lstat(s.path(key)); err != nil {
			t.Errorf("%s (not user 42's) was touched: %v", key, err)
		}
	}
	// Expired sessions are revoked too: user 9 has only an expired one.
	res, err = change.RevokeUser(ctx, s, "9", false, change.Audit{}, nil)
	if err != nil || len(res.Removed) != 1 || res.Removed[0].Key != keyExpired {
		t.Errorf("revoking user 9: %+v, %v", res, err)
	}
	if _, err := change.RevokeUser(ctx, s, "", false, change.Audit{}, nil); err == nil {
		t.Errorf("revoking the empty user id succeeded")
	}
}

func removedKeys(res change.RevokeResult) []string {
	var keys []string
	for _, r := range res.Removed {
		keys = append(keys, r.Key)
	}
	sort.Strings(keys)
	return keys
}

// TestRemoveIfRejudgesRewrittenSession: Django gives the key to another
// user between the read and the unlink; the new version is judged again
// and kept.
func TestRemoveIfRejudgesRewrittenSession(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	const key = "raceduser0001"
	save(t, s, key, `{"_auth_user_id": "42"}`)
	calls := 0
	isUser42 := func(e store.Entry) bool {
		calls++
		if calls == 1 {
			save(t, s, key, `{"_auth_user_id": "43"}`) // Django's save, after our read
		}
		return e.Err == nil && e.UserID == "42"
	}
	r, err := s.RemoveIf(ctx, key, false, isUser42)
	if err != nil || r.Removed {
		t.Fatalf("RemoveIf: removed %v, err %v; want kept", r.Removed, err)
	}
	if calls != 2 || r.UserID != "43" {
		t.Errorf("judged %d times, last saw user %q; want 2 and 43", calls, r.UserID)
	}
	sess, err := s.Load(ctx, key)
	if err != nil || sess.UserID != "43" {
		t.Errorf("session after: %v %v", sess, err)
	}
	r, err = s.RemoveIf(ctx, "nosuchsession1", false, func(store.Entry) bool { return true })
	if err != nil || r.Removed {
		t.Errorf("RemoveIf of a missing key: %+v %v", r, err)
	}
	if err := os.Symlink("/etc/passwd", s.path("plantedlink01")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveIf(ctx, "plantedlink01", false, func(store.Entry) bool { return true }); !errors.Is(err, store.ErrNotRegular) {
		t.Errorf("RemoveIf of a symlink: %v, want store.ErrNotRegular", err)
	}
	if _, err := os.Lstat(s.path("plantedlink01")); err != nil {
		t.Errorf("symlink removed: %v", err)
	}
}
