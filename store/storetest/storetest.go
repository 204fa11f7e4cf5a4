// Package storetest is the conformance suite of the store.Store contract:
// every backend runs it (Run) and so keeps the promises the mount and the
// CLI rely on, whatever holds the sessions. It runs through the contract
// only; what another writer (Django) does is the backend's Instance.Write.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
	"github.com/sessionfs/sessionfs/store"
)

// Instance is one empty store of the backend under test.
type Instance struct {
	Store store.Store
	// CookieAge is the store's SESSION_COOKIE_AGE.
	CookieAge time.Duration
	// MaxSize is the store's bound on a stored session (0:
	// store.DefaultMaxSessionSize); a small one keeps the test of the
	// bound quick.
	MaxSize int64
	// Write stores raw as key's stored value the way another writer
	// (Django) saving it now would: created or replaced, a new version,
	// with the life a Django save of a session without _session_expiry
	// gives it. raw need not decode.
	Write func(t *testing.T, key string, raw []byte)
}

// Run runs every test of the suite as a subtest, each on a fresh Instance.
func Run(t *testing.T, newInstance func(t *testing.T) Instance) {
	tests := []struct {
		name string
		fn   func(t *testing.T, in Instance)
	}{
		{"CreateAndExists", testCreateAndExists},
		{"SaveCreatesOrReplaces", testSaveCreatesOrReplaces},
		{"IfMatch", testIfMatch},
		{"KeepExpiry", testKeepExpiry},
		{"DryRun", testDryRun},
		{"EncodeOption", testEncodeOption},
		{"TooLarge", testTooLarge},
		{"RemoveIf", testRemoveIf},
		{"RemoveIfUndecodable", testRemoveIfUndecodable},
		{"RemoveIfRewritten", testRemoveIfRewritten},
		{"Rename", testRename},
		{"Renew", testRenew},
		{"ClearExpired", testClearExpired},
		{"ScanAndScanUser", testScanAndScanUser},
		{"Stats", testStats},
		{"ReadRawAndUndecodable", testReadRawAndUndecodable},
		{"InvalidKeys", testInvalidKeys},
		{"Canceled", testCanceled},
		{"Describe", testDescribe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newInstance(t)) })
	}
}

// Keys of the suite: Django's shape, 32 characters of [a-z0-9].
func key(name string) string {
	return name + strings.Repeat("0", 32-len(name))
}

var ctx = context.Background()

// slack bounds how far a computed expiry may be from the suite's
// expectation: backends store expiry dates at their own resolution (a
// database: microseconds).
const slack = time.Millisecond

func near(a, b time.Time, d time.Duration) bool {
	diff := a.Sub(b)
	return diff >= -d && diff <= d
}

func save(t *testing.T, st store.Store, k, js string, opt store.SaveOptions) store.Saved {
	t.Helper()
	saved, err := st.Save(ctx, k, []byte(js), opt)
	if err != nil {
		t.Fatalf("Save(%s, %s, %+v): %v", k, js, opt, err)
	}
	return saved
}

func readRaw(t *testing.T, st store.Store, k string) ([]byte, store.Version) {
	t.Helper()
	raw, v, err := st.ReadRaw(ctx, k)
	if err != nil {
		t.Fatalf("ReadRaw(%s): %v", k, err)
	}
	return raw, v
}

func stat(t *testing.T, st store.Store, k string) store.Meta {
	t.Helper()
	m, err := st.Stat(ctx, k)
	if err != nil {
		t.Fatalf("Stat(%s): %v", k, err)
	}
	return m
}

func gone(t *testing.T, st store.Store, k string) {
	t.Helper()
	if m, err := st.Stat(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat(%s) = %+v, %v; want ErrNotFound", k, m, err)
	}
	if _, _, err := st.ReadRaw(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadRaw(%s): %v; want ErrNotFound", k, err)
	}
}

// sameJSON compares session JSON as values, member order aside.
func sameJSON(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: %q is not JSON: %v", what, got, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: the suite's %q: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: %s, want %s", what, got, want)
	}
}

// sameMeta checks that two Metas describe the same stored version.
func sameMeta(t *testing.T, what string, got, want store.Meta) {
	t.Helper()
	if got.Key != want.Key || got.Version != want.Version || got.RawSize != want.RawSize || got.Size != want.Size ||
		got.UserID != want.UserID || got.Empty != want.Empty || got.Info != want.Info ||
		!got.Expiry.Equal(want.Expiry) || got.ExpiryInstant != want.ExpiryInstant || !got.ModTime.Equal(want.ModTime) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// checkSaved checks what a Save reports against what the store then
// holds, and the Meta it derives from the session.
func checkSaved(t *testing.T, st store.Store, k, js string, saved store.Saved) {
	t.Helper()
	if saved.Key != k || saved.Version.IsZero() || len(saved.Raw) == 0 || saved.RawSize != int64(len(saved.Raw)) {
		t.Fatalf("Saved of %s: key %q version %x raw %d bytes, RawSize %d", k, saved.Key, saved.Version, len(saved.Raw), saved.RawSize)
	}
	sameJSON(t, "Saved.JSON", saved.JSON, js)
	pretty, err := codec.Pretty(saved.JSON)
	if err != nil || saved.Size != int64(len(pretty)) {
		t.Errorf("Saved.Size %d, pretty rendering %d bytes (%v)", saved.Size, len(pretty), err)
	}
	if want := store.UserIDOf([]byte(js)); saved.UserID != want {
		t.Errorf("Saved.UserID %q, want %q", saved.UserID, want)
	}
	raw, v := readRaw(t, st, k)
	if !bytes.Equal(raw, saved.Raw) || v != saved.Version {
		t.Errorf("ReadRaw after Save: %d bytes version %x; Saved has %d bytes version %x", len(raw), v, len(saved.Raw), saved.Version)
	}
	sameMeta(t, "Stat after Save", stat(t, st, k), saved.Meta)
	sess, err := st.Load(ctx, k)
	if err != nil {
		t.Fatalf("Load(%s): %v", k, err)
	}
	sameMeta(t, "Load after Save", sess.Meta, saved.Meta)
	if !bytes.Equal(sess.JSON, saved.JSON) {
		t.Errorf("Load JSON %s, Saved.JSON %s", sess.JSON, saved.JSON)
	}
}

func testCreateAndExists(t *testing.T, in Instance) {
	st, k := in.Store, key("create")
	js := `{"_auth_user_id": "42", "cart": [1, 2], "note": "café ☃"}`
	before := time.Now()
	saved := save(t, st, k, js, store.SaveOptions{MustCreate: true, ReportBefore: true})
	if !saved.Created || saved.Before != nil || saved.BeforeJSON != nil {
		t.Errorf("a new session: Created %v, Before %q, BeforeJSON %q", saved.Created, saved.Before, saved.BeforeJSON)
	}
	checkSaved(t, st, k, js, saved)
	if saved.UserID != "42" {
		t.Errorf("UserID %q", saved.UserID)
	}
	// A Django save now gives it SESSION_COOKIE_AGE.
	if lo, hi := before.Add(in.CookieAge).Add(-time.Second), time.Now().Add(in.CookieAge).Add(time.Second); saved.Expiry.Before(lo) || saved.Expiry.After(hi) {
		t.Errorf("a new session expires %v, want within [%v, %v]", saved.Expiry, lo, hi)
	}
	if saved.Expired(time.Now()) || st.Expired(store.Entry{Meta: saved.Meta}, time.Now()) {
		t.Errorf("a new session is expired")
	}
	// Django's CreateError: the key is taken, nothing changes.
	_, err := st.Save(ctx, k, []byte(`{"other": 1}`), store.SaveOptions{MustCreate: true})
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("MustCreate over an existing session: %v, want ErrExists", err)
	}
	if raw, v := readRaw(t, st, k); !bytes.Equal(raw, saved.Raw) || v != saved.Version {
		t.Errorf("a refused create changed the session")
	}
	// An expired session still holds its key.
	exp := key("expiredcreate")
	save(t, st, exp, `{"_session_expiry": -60}`, store.SaveOptions{MustCreate: true})
	if _, err := st.Save(ctx, exp, []byte(`{}`), store.SaveOptions{MustCreate: true}); !errors.Is(err, store.ErrExists) {
		t.Errorf("MustCreate over an expired session: %v, want ErrExists", err)
	}
}

func testSaveCreatesOrReplaces(t *testing.T, in Instance) {
	st, k := in.Store, key("replace")
	first := save(t, st, k, `{"step": 1}`, store.SaveOptions{ReportBefore: true})
	if !first.Created || first.Before != nil {
		t.Errorf("Save of a missing session: Created %v, Before %q", first.Created, first.Before)
	}
	second := save(t, st, k, `{"step": 2, "_auth_user_id": "7"}`, store.SaveOptions{ReportBefore: true})
	if second.Created {
		t.Errorf("Save over a session reports Created")
	}
	if !bytes.Equal(second.Before, first.Raw) {
		t.Errorf("Saved.Before %q, want the bytes replaced %q", second.Before, first.Raw)
	}
	sameJSON(t, "Saved.BeforeJSON", second.BeforeJSON, `{"step": 1}`)
	if second.Version == first.Version {
		t.Errorf("new content, same Version %x", second.Version)
	}
	checkSaved(t, st, k, `{"step": 2, "_auth_user_id": "7"}`, second)
	// What replaced an undecodable value: its bytes, and no JSON.
	garbage := []byte("not a session at all")
	in.Write(t, k, garbage)
	third := save(t, st, k, `{"step": 3}`, store.SaveOptions{ReportBefore: true})
	if !bytes.Equal(third.Before, garbage) || third.BeforeJSON != nil {
		t.Errorf("replacing garbage: Before %q BeforeJSON %q", third.Before, third.BeforeJSON)
	}
}

func testIfMatch(t *testing.T, in Instance) {
	st, k := in.Store, key("ifmatch")
	v1 := save(t, st, k, `{"by": "sessionfs", "n": 1}`, store.SaveOptions{MustCreate: true}).Version
	// Django saves it after sessionfs read it.
	other := save(t, st, key("donor"), `{"by": "django", "n": 2}`, store.SaveOptions{MustCreate: true})
	in.Write(t, k, other.Raw)
	_, v2 := readRaw(t, st, k)
	if v2 == v1 {
		t.Fatalf("another writer's save left the Version unchanged")
	}
	_, err := st.Save(ctx, k, []byte(`{"by": "sessionfs", "n": 1, "edited": true}`), store.SaveOptions{IfMatch: v1, KeepExpiry: true})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("IfMatch of a version replaced since: %v, want ErrConflict", err)
	}
	if raw, v := readRaw(t, st, k); !bytes.Equal(raw, other.Raw) || v != v2 {
		t.Errorf("a refused save changed the session")
	}
	// The version read now: applies.
	saved := save(t, st, k, `{"by": "sessionfs", "n": 3}`, store.SaveOptions{IfMatch: v2, ReportBefore: true})
	if !bytes.Equal(saved.Before, other.Raw) {
		t.Errorf("Before is not the version the guard matched")
	}
	checkSaved(t, st, k, `{"by": "sessionfs", "n": 3}`, saved)
	// Removed since read: never brought back.
	if r, err := st.RemoveIf(ctx, k, false, func(store.Entry) bool { return true }); err != nil || !r.Removed {
		t.Fatalf("RemoveIf: %+v %v", r, err)
	}
	_, err = st.Save(ctx, k, []byte(`{"resurrected": true}`), store.SaveOptions{IfMatch: saved.Version})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("IfMatch of a removed session: %v, want ErrConflict", err)
	}
	gone(t, st, k)
}

func testKeepExpiry(t *testing.T, in Instance) {
	st, k := in.Store, key("keep")
	save(t, st, k, `{"n": 1}`, store.SaveOptions{MustCreate: true})
	at := time.Now().Add(-time.Hour)
	renewed, err := st.Renew(ctx, k, at, store.Version{})
	if err != nil {
		t.Fatal(err)
	}
	want := renewed.Expiry
	if !near(want, at.Add(in.CookieAge), slack) {
		t.Fatalf("renewed as of %v: expires %v, want %v", at, want, at.Add(in.CookieAge))
	}
	// An edit does not extend the session's life.
	edited := save(t, st, k, `{"n": 2}`, store.SaveOptions{KeepExpiry: true, IfMatch: renewed.Version})
	if !edited.Expiry.Equal(want) || !stat(t, st, k).Expiry.Equal(want) {
		t.Errorf("KeepExpiry: expires %v (Stat %v), want %v kept", edited.Expiry, stat(t, st, k).Expiry, want)
	}
	if !edited.ModTime.Equal(renewed.ModTime) {
		t.Errorf("KeepExpiry: ModTime %v, want %v kept", edited.ModTime, renewed.ModTime)
	}
	// A Django-style save does.
	before := time.Now()
	plain := save(t, st, k, `{"n": 3}`, store.SaveOptions{})
	if plain.Expiry.Before(before.Add(in.CookieAge).Add(-time.Second)) || plain.Expiry.After(time.Now().Add(in.CookieAge).Add(time.Second)) {
		t.Errorf("a save without KeepExpiry expires %v, want now + %v", plain.Expiry, in.CookieAge)
	}
	// An edit that sets _session_expiry to a date: the session expires then.
	abs := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	dated := save(t, st, k, `{"n": 4, "_session_expiry": "2031-05-06T07:08:09+00:00"}`, store.SaveOptions{KeepExpiry: true})
	if !dated.Expiry.Equal(abs) || !stat(t, st, k).Expiry.Equal(abs) {
		t.Errorf("KeepExpiry with a new _session_expiry: expires %v, want %v", dated.Expiry, abs)
	}
	// A new session gets the life a Django save gives it.
	fresh := save(t, st, key("keepnew"), `{"n": 1}`, store.SaveOptions{KeepExpiry: true})
	if fresh.Expiry.Before(before.Add(in.CookieAge).Add(-time.Second)) {
		t.Errorf("a new session saved with KeepExpiry expires %v", fresh.Expiry)
	}
}

func testDryRun(t *testing.T, in Instance) {
	st, k := in.Store, key("dryrun")
	saved := save(t, st, k, `{"n": 1}`, store.SaveOptions{MustCreate: true, DryRun: true})
	if len(saved.Raw) == 0 || !saved.Version.IsZero() {
		t.Errorf("dry run: %d bytes, Version %x; want bytes and no version", len(saved.Raw), saved.Version)
	}
	sameJSON(t, "dry run JSON", saved.JSON, `{"n": 1}`)
	gone(t, st, k)
	real := save(t, st, k, `{"n": 1}`, store.SaveOptions{MustCreate: true})
	save(t, st, k, `{"n": 2}`, store.SaveOptions{DryRun: true, IfMatch: real.Version})
	if raw, v := readRaw(t, st, k); !bytes.Equal(raw, real.Raw) || v != real.Version {
		t.Errorf("a dry run changed the session")
	}
}

func testEncodeOption(t *testing.T, in Instance) {
	st, k := in.Store, key("encode")
	legacy := codec.EncodeOptions{Format: codec.FormatLegacy, Serializer: codec.SerializerJSON}
	saved := save(t, st, k, `{"_auth_user_id": "5"}`, store.SaveOptions{MustCreate: true, Encode: &legacy})
	if saved.Info.Format != codec.FormatLegacy {
		t.Errorf("Encode legacy: stored format %v", saved.Info.Format)
	}
	checkSaved(t, st, k, `{"_auth_user_id": "5"}`, saved)
}

func testTooLarge(t *testing.T, in Instance) {
	st, k := in.Store, key("toolarge")
	bound := in.MaxSize
	if bound <= 0 {
		bound = store.DefaultMaxSessionSize
	}
	// Random base64 does not compress: its encoding is over the bound.
	blob := make([]byte, bound)
	rand.Read(blob)
	js := `{"blob": "` + base64.StdEncoding.EncodeToString(blob) + `"}`
	_, err := st.Save(ctx, k, []byte(js), store.SaveOptions{MustCreate: true})
	if !errors.Is(err, store.ErrTooLarge) && !errors.Is(err, codec.ErrTooLarge) {
		t.Errorf("Save of %d bytes of JSON: %v, want ErrTooLarge", len(js), err)
	}
	gone(t, st, k)
}

func testRemoveIf(t *testing.T, in Instance) {
	st, k := in.Store, key("remove")
	saved := save(t, st, k, `{"_auth_user_id": "42"}`, store.SaveOptions{MustCreate: true})
	var seen store.Entry
	r, err := st.RemoveIf(ctx, k, false, func(e store.Entry) bool { seen = e; return false })
	if err != nil || r.Removed || r.Raw != nil {
		t.Errorf("match refused: %+v %v", r, err)
	}
	if seen.Err != nil || seen.UserID != "42" || seen.Version != saved.Version {
		t.Errorf("match saw %+v", seen)
	}
	stat(t, st, k)
	r, err = st.RemoveIf(ctx, k, true, func(store.Entry) bool { return true })
	if err != nil || !r.Removed || !bytes.Equal(r.Raw, saved.Raw) {
		t.Errorf("dry run: %+v %v", r, err)
	}
	stat(t, st, k)
	r, err = st.RemoveIf(ctx, k, false, func(e store.Entry) bool { return e.UserID == "42" })
	if err != nil || !r.Removed || !bytes.Equal(r.Raw, saved.Raw) || r.Key != k || r.Version != saved.Version {
		t.Fatalf("RemoveIf: %+v %v", r, err)
	}
	sameJSON(t, "Removal.JSON", r.JSON, `{"_auth_user_id": "42"}`)
	gone(t, st, k)
	r, err = st.RemoveIf(ctx, k, false, func(store.Entry) bool { t.Error("match called for nothing"); return true })
	if err != nil || r.Removed {
		t.Errorf("RemoveIf of nothing: %+v %v", r, err)
	}
}

func testRemoveIfUndecodable(t *testing.T, in Instance) {
	st, k := in.Store, key("removegarbage")
	garbage := []byte("garbage:that:no:key:signed")
	in.Write(t, k, garbage)
	r, err := st.RemoveIf(ctx, k, false, func(e store.Entry) bool { return e.Err != nil && store.Undecodable(e.Err) })
	if err != nil || !r.Removed || !bytes.Equal(r.Raw, garbage) || r.JSON != nil || r.Err == nil {
		t.Errorf("RemoveIf of an undecodable session: %+v %v", r, err)
	}
	gone(t, st, k)
}

// A session another writer rewrites between RemoveIf's read and its
// delete is judged again: the version deleted is the one judged last.
func testRemoveIfRewritten(t *testing.T, in Instance) {
	st, k := in.Store, key("removerace")
	save(t, st, k, `{"v": 1}`, store.SaveOptions{MustCreate: true})
	newer := save(t, st, key("donor"), `{"v": 2}`, store.SaveOptions{MustCreate: true}).Raw
	calls := 0
	r, err := st.RemoveIf(ctx, k, false, func(e store.Entry) bool {
		calls++
		if calls == 1 {
			in.Write(t, k, newer) // Django saves while the removal judges
		}
		return true
	})
	if err != nil || !r.Removed || calls != 2 || !bytes.Equal(r.Raw, newer) {
		t.Errorf("RemoveIf over a rewrite: %+v %v after %d judgements", r, err, calls)
	}
	gone(t, st, k)

	// Rewritten every time: given up with ErrConflict, the last version kept.
	save(t, st, k, `{"v": 1}`, store.SaveOptions{MustCreate: true})
	n := 0
	var last []byte
	_, err = st.RemoveIf(ctx, k, false, func(e store.Entry) bool {
		n++
		last = save(t, st, key("donor"), fmt.Sprintf(`{"v": %d}`, 100+n), store.SaveOptions{}).Raw
		in.Write(t, k, last)
		return true
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("RemoveIf rewritten at every attempt: %v after %d, want ErrConflict", err, n)
	}
	if raw, _ := readRaw(t, st, k); !bytes.Equal(raw, last) {
		t.Errorf("the last rewrite is not what is stored")
	}
}

func testRename(t *testing.T, in Instance) {
	st, from, to := in.Store, key("renamefrom"), key("renameto")
	save(t, st, from, `{"_auth_user_id": "42", "n": 1}`, store.SaveOptions{MustCreate: true})
	renewed, err := st.Renew(ctx, from, time.Now().Add(-time.Hour), store.Version{})
	if err != nil {
		t.Fatal(err)
	}
	saved, err := st.Rename(ctx, from, to)
	if err != nil {
		t.Fatalf("Rename: %v", err)
	}
	if saved.Key != to || !bytes.Equal(saved.Raw, renewed.Raw) || !saved.Created {
		t.Errorf("Rename reports %+v", saved)
	}
	gone(t, st, from)
	raw, v := readRaw(t, st, to)
	if !bytes.Equal(raw, renewed.Raw) || v != saved.Version {
		t.Errorf("renamed session's bytes or version differ")
	}
	m := stat(t, st, to)
	sameMeta(t, "Stat after Rename", m, saved.Meta)
	if !m.Expiry.Equal(renewed.Expiry) {
		t.Errorf("a renamed session expires %v, was %v", m.Expiry, renewed.Expiry)
	}
	// The new key must be free; nothing changes either side.
	other := save(t, st, from, `{"other": true}`, store.SaveOptions{MustCreate: true})
	if _, err := st.Rename(ctx, from, to); !errors.Is(err, store.ErrExists) {
		t.Errorf("Rename onto an existing session: %v, want ErrExists", err)
	}
	if raw, _ := readRaw(t, st, from); !bytes.Equal(raw, other.Raw) {
		t.Errorf("refused rename changed its source")
	}
	if raw, _ := readRaw(t, st, to); !bytes.Equal(raw, renewed.Raw) {
		t.Errorf("refused rename changed its target")
	}
	if _, err := st.Rename(ctx, key("nosuch"), key("nosuchto")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Rename of nothing: %v, want ErrNotFound", err)
	}
}

func testRenew(t *testing.T, in Instance) {
	st, k := in.Store, key("renew")
	saved := save(t, st, k, `{"_auth_user_id": "3"}`, store.SaveOptions{MustCreate: true})
	at := time.Now().Add(-2 * time.Hour)
	renewed, err := st.Renew(ctx, k, at, saved.Version)
	if err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if !bytes.Equal(renewed.Raw, saved.Raw) || !near(renewed.Expiry, at.Add(in.CookieAge), slack) {
		t.Errorf("Renew as of %v: %d bytes, expires %v; want the same bytes, expiring %v", at, len(renewed.Raw), renewed.Expiry, at.Add(in.CookieAge))
	}
	sameJSON(t, "Renew JSON", renewed.JSON, `{"_auth_user_id": "3"}`)
	if raw, v := readRaw(t, st, k); !bytes.Equal(raw, saved.Raw) || v != renewed.Version {
		t.Errorf("after Renew: stored %d bytes, version %x; Saved has %x", len(raw), v, renewed.Version)
	}
	sameMeta(t, "Stat after Renew", stat(t, st, k), renewed.Meta)
	// A stale version: refused.
	if _, err := st.Renew(ctx, k, time.Now(), saved.Version); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Renew with a stale version: %v, want ErrConflict", err)
	}
	// Renewed as of more than the cookie age ago: expired.
	old, err := st.Renew(ctx, k, time.Now().Add(-in.CookieAge-time.Hour), renewed.Version)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if !old.Expired(now) || !st.Expired(store.Entry{Meta: stat(t, st, k)}, now) {
		t.Errorf("renewed %v ago: not expired (expiry %v)", in.CookieAge+time.Hour, old.Expiry)
	}
	if _, err := st.Renew(ctx, key("nosuch"), time.Now(), store.Version{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Renew of nothing: %v, want ErrNotFound", err)
	}
}

// expire makes k's session expired an hour ago.
func expire(t *testing.T, in Instance, k string) {
	t.Helper()
	if _, err := in.Store.Renew(ctx, k, time.Now().Add(-in.CookieAge-time.Hour), store.Version{}); err != nil {
		t.Fatal(err)
	}
}

func testClearExpired(t *testing.T, in Instance) {
	st := in.Store
	live := []string{key("livea"), key("liveb")}
	dead := []string{key("deada"), key("deadb"), key("deadc")}
	raws := map[string][]byte{}
	for i, k := range append(append([]string{}, live...), dead...) {
		raws[k] = save(t, st, k, fmt.Sprintf(`{"n": %d}`, i), store.SaveOptions{MustCreate: true}).Raw
	}
	for _, k := range dead {
		expire(t, in, k)
	}
	in.Write(t, key("garbage"), []byte("undecodable, saved just now"))
	slices.Sort(dead)

	dry, err := st.ClearExpired(ctx, store.ClearOptions{DryRun: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dry.Removed)
	if !slices.Equal(dry.Removed, dead) || len(dry.Leftovers) != 0 {
		t.Errorf("dry run lists %v %v, want %v", dry.Removed, dry.Leftovers, dead)
	}
	for _, k := range dead {
		stat(t, st, k)
	}

	var removed []store.Removal
	res, err := st.ClearExpired(ctx, store.ClearOptions{Removed: func(r store.Removal) { removed = append(removed, r) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.Removed)
	if !slices.Equal(res.Removed, dead) || len(res.Leftovers) != 0 || res.Scanned < len(dead) {
		t.Errorf("ClearExpired: %+v, want %v removed", res, dead)
	}
	if len(removed) != len(dead) {
		t.Errorf("Removed called %d times, want %d", len(removed), len(dead))
	}
	for _, r := range removed {
		if !r.Removed || !bytes.Equal(r.Raw, raws[r.Key]) {
			t.Errorf("Removed(%s): removed %v, %d bytes, want the %d bytes stored", r.Key, r.Removed, len(r.Raw), len(raws[r.Key]))
		}
	}
	var left []string
	if err := st.Scan(ctx, func(e store.Entry) error { left = append(left, e.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(left)
	if want := []string{key("garbage"), key("livea"), key("liveb")}; !slices.Equal(left, want) {
		t.Errorf("left after ClearExpired: %v, want %v", left, want)
	}
	again, err := st.ClearExpired(ctx, store.ClearOptions{}, nil)
	if err != nil || len(again.Removed) != 0 {
		t.Errorf("a second ClearExpired: %+v %v", again, err)
	}
}

// population saves the sessions the listing tests look at.
func population(t *testing.T, in Instance) (live map[string]string, expiredKey, garbageKey string) {
	live = map[string]string{
		key("usera"): `{"_auth_user_id": "42", "n": 1}`,
		key("userb"): `{"_auth_user_id": "42", "n": 2}`,
		key("userc"): `{"_auth_user_id": "7"}`,
		key("anon"):  `{"cart": [1, 2, 3]}`,
	}
	for k, js := range live {
		save(t, in.Store, k, js, store.SaveOptions{MustCreate: true})
	}
	expiredKey = key("userold")
	save(t, in.Store, expiredKey, `{"_auth_user_id": "42", "old": true}`, store.SaveOptions{MustCreate: true})
	expire(t, in, expiredKey)
	garbageKey = key("garbage")
	in.Write(t, garbageKey, []byte("xyz:not:signed"))
	return live, expiredKey, garbageKey
}

func testScanAndScanUser(t *testing.T, in Instance) {
	st := in.Store
	live, expiredKey, garbageKey := population(t, in)
	now := time.Now()
	scan := func() map[string]store.Entry {
		got := map[string]store.Entry{}
		err := st.Scan(ctx, func(e store.Entry) error {
			if _, dup := got[e.Key]; dup {
				t.Errorf("Scan: %s twice", e.Key)
			}
			got[e.Key] = e
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := scan()
	if len(got) != len(live)+2 {
		t.Errorf("Scan: %d entries, want %d", len(got), len(live)+2)
	}
	for k, js := range live {
		e, ok := got[k]
		if !ok || e.Err != nil || e.UserID != store.UserIDOf([]byte(js)) || st.Expired(e, now) || e.Expired(now) {
			t.Errorf("Scan entry %s: %+v (present %v)", k, e, ok)
			continue
		}
		sameMeta(t, "Scan entry vs Stat", e.Meta, stat(t, st, k))
	}
	if e := got[expiredKey]; e.Err != nil || !st.Expired(e, now) || !e.Expired(now) || e.UserID != "42" {
		t.Errorf("expired entry %+v", e)
	}
	g := got[garbageKey]
	if g.Err == nil || !store.Undecodable(g.Err) || g.Version.IsZero() || g.RawSize != int64(len("xyz:not:signed")) {
		t.Errorf("undecodable entry %+v", g)
	}
	// A second listing: the same entries (a cache must not change them).
	for k, e := range scan() {
		if e.Err == nil {
			sameMeta(t, "second Scan", e.Meta, got[k].Meta)
		} else if e.Version != got[k].Version {
			t.Errorf("second Scan: %s version changed", k)
		}
	}
	// An error from fn stops the scan.
	stop := errors.New("stop")
	n := 0
	if err := st.Scan(ctx, func(store.Entry) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Scan with fn failing: %v after %d calls", err, n)
	}

	var mine []string
	err := st.ScanUser(ctx, "42", func(e store.Entry) error {
		if e.Err != nil || e.UserID != "42" {
			t.Errorf("ScanUser(42) gave %+v", e)
		}
		mine = append(mine, e.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(mine)
	if want := []string{key("usera"), key("userb"), expiredKey}; !slices.Equal(mine, want) {
		t.Errorf("ScanUser(42) = %v, want %v", mine, want)
	}
	none := 0
	if err := st.ScanUser(ctx, "999", func(store.Entry) error { none++; return nil }); err != nil || none != 0 {
		t.Errorf("ScanUser of a user without sessions: %d, %v", none, err)
	}
}

func testStats(t *testing.T, in Instance) {
	st := in.Store
	live, expiredKey, garbageKey := population(t, in)
	var bytes int64
	for _, k := range append(slices.Collect(maps.Keys(live)), expiredKey, garbageKey) {
		raw, _ := readRaw(t, st, k)
		bytes += int64(len(raw))
	}
	seen := 0
	s, err := st.Stats(ctx, func(store.Entry) { seen++ })
	if err != nil {
		t.Fatal(err)
	}
	if s.Sessions != 4 || s.Expired != 1 || s.Invalid != 1 || s.LoggedIn != 3 || s.LoggedInUsers != 2 ||
		s.Bytes != bytes || seen != 6 || s.Formats["signed"] != 4 || s.Keys["current"] != 4 {
		t.Errorf("Stats %+v (seen %d), want 4 live, 1 expired, 1 invalid, 3 logged in as 2 users, %d bytes", s, seen, bytes)
	}
}

func testReadRawAndUndecodable(t *testing.T, in Instance) {
	st, k := in.Store, key("rawbytes")
	raw := []byte("a stored value\twith\nbytes \x01\x7f that are no session")
	in.Write(t, k, raw)
	got, v := readRaw(t, st, k)
	if !bytes.Equal(got, raw) || v.IsZero() {
		t.Errorf("ReadRaw: %q version %x, want %q", got, v, raw)
	}
	m, err := st.Stat(ctx, k)
	if !store.Undecodable(err) || m.Key != k || m.Version != v || m.RawSize != int64(len(raw)) {
		t.Errorf("Stat of an undecodable session: %+v %v", m, err)
	}
	if sess, err := st.Load(ctx, k); !store.Undecodable(err) {
		t.Errorf("Load of an undecodable session: %+v %v", sess, err)
	}
	if _, _, err := st.ReadRaw(ctx, key("nosuch")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadRaw of nothing: %v", err)
	}
	if _, err := st.Load(ctx, key("nosuch")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load of nothing: %v", err)
	}
}

func testInvalidKeys(t *testing.T, in Instance) {
	st := in.Store
	good := key("good")
	save(t, st, good, `{}`, store.SaveOptions{MustCreate: true})
	all := func(store.Entry) bool { return true }
	for _, bad := range []string{"", "short", "UPPERCASE0000000", "../../../etc/passwd", "abc/defghijkl", "key with spaces", strings.Repeat("a", 300), "ключключключ"} {
		errs := map[string]error{}
		_, errs["Stat"] = st.Stat(ctx, bad)
		_, errs["Load"] = st.Load(ctx, bad)
		_, _, errs["ReadRaw"] = st.ReadRaw(ctx, bad)
		_, errs["Save"] = st.Save(ctx, bad, []byte(`{}`), store.SaveOptions{})
		_, errs["RemoveIf"] = st.RemoveIf(ctx, bad, false, all)
		_, errs["Renew"] = st.Renew(ctx, bad, time.Now(), store.Version{})
		_, errs["Rename from"] = st.Rename(ctx, bad, key("target"))
		_, errs["Rename to"] = st.Rename(ctx, good, bad)
		for op, err := range errs {
			if !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("%s(%q): %v, want ErrInvalidKey", op, bad, err)
			}
		}
	}
	stat(t, st, good)
}

func testCanceled(t *testing.T, in Instance) {
	st, k := in.Store, key("canceled")
	save(t, st, k, `{}`, store.SaveOptions{MustCreate: true})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := st.Stat(cctx, k); err == nil {
		t.Errorf("Stat with a canceled context succeeded")
	}
	if _, err := st.Save(cctx, k, []byte(`{"n": 1}`), store.SaveOptions{}); err == nil {
		t.Errorf("Save with a canceled context succeeded")
	}
	if err := st.Scan(cctx, func(store.Entry) error { return nil }); err == nil {
		t.Errorf("Scan with a canceled context succeeded")
	}
}

func testDescribe(t *testing.T, in Instance) {
	d := in.Store.Describe()
	if d.Backend == "" || d.Location == "" || !d.Signed {
		t.Errorf("Describe() = %+v", d)
	}
}
