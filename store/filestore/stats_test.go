package filestore

import (
	"context"
	"github.com/sessionfs/sessionfs/store"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/codec"
)

// rotatedSecret is the SECRET_KEY after a rotation: the Django 3.2 vector
// files, signed with vectorSecret, then verify only with fallback 1.
const rotatedSecret = "rotated-secret-key-after-vectors-9876543210"

// Keys of the sessions opsFixture writes itself.
const (
	keyUserSeven = "userseven0001"
	keyExpired   = "expiredsess01"
	keyCorrupt   = "corruptsess01"
	keyEmpty     = "emptysession1"
	keyLegacy42  = "legacysess01"
)

// opsFixture is a store whose SECRET_KEY was rotated: current rotatedSecret,
// fallback vectorSecret. Its directory holds Django 3.2's files (a session
// of user 42 and one of no user, both verifying with the fallback key; one
// signed with an unknown key), plus a session of user 42 in the legacy
// format and one of user 7 (current key), a session of user 9 expired by
// mtime, a corrupt file, an empty placeholder and a leftover temp file. now
// is the store's clock.
func opsFixture(t *testing.T) (s *FileStore, now time.Time) {
	t.Helper()
	now = time.Now()
	s, _ = newTestStore(t, func(c *Config) {
		cd, err := codec.New(codec.Config{SecretKey: []byte(rotatedSecret), FallbackKeys: [][]byte{[]byte(vectorSecret)}})
		if err != nil {
			t.Fatal(err)
		}
		c.Codec = cd
		c.Now = func() time.Time { return now }
	})
	for _, key := range []string{keyLogin, keySmall, keyOtherSite} {
		copyVector(t, s, key)
	}
	save(t, s, keyUserSeven, `{"_auth_user_id": "7", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend"}`)
	save(t, s, keyExpired, `{"_auth_user_id": "9"}`)
	setMtime(t, s.path(keyExpired), now.Add(-store.DefaultCookieAge-time.Hour))
	legacy := storeWithEncode(t, s, codec.EncodeOptions{Format: codec.FormatLegacy})
	save(t, legacy, keyLegacy42, `{"_auth_user_id": "42", "cart": [1]}`)
	writeRaw(t, s, keyCorrupt, []byte("not a session \x00\xff"))
	writeRaw(t, s, keyEmpty, nil)
	if err := os.WriteFile(filepath.Join(s.cfg.Dir, "sessionid"+keySmall+"_out_123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s, now
}

// storeWithEncode is another store over s's directory and codec that
// writes with enc.
func storeWithEncode(t *testing.T, s *FileStore, enc codec.EncodeOptions) *FileStore {
	t.Helper()
	cfg := s.cfg
	cfg.Encode = enc
	other, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return other
}

func TestStats(t *testing.T) {
	s, _ := opsFixture(t)
	var seen int
	st, err := s.Stats(context.Background(), func(store.Entry) { seen++ })
	if err != nil {
		t.Fatal(err)
	}
	var rawBytes int64
	for _, key := range []string{keyLogin, keyLegacy42, keySmall, keyOtherSite, keyUserSeven, keyExpired, keyCorrupt, keyEmpty} {
		fi, err := os.Stat(s.path(key))
		if err != nil {
			t.Fatal(err)
		}
		rawBytes += fi.Size()
	}
	want := store.Stats{
		Sessions: 5, Empty: 1, LoggedInUsers: 2, LoggedIn: 3, Expired: 1, Invalid: 2,
		TempFiles: 1, Bytes: rawBytes, TempBytes: 4,
		Problems:    map[string]int{"bad-signature": 1, "corrupt": 1},
		Formats:     map[string]int{"signed": 3, "legacy": 1},
		Serializers: map[string]int{"json": 4},
		Keys:        map[string]int{"current": 2, "fallback 1": 2},
		Time:        st.Time,
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("stats:\n got  %+v\n want %+v", st, want)
	}
	if seen != 8 {
		t.Errorf("progress saw %d entries, want 8", seen)
	}
	if got := st.FallbackOnly(); got != 2 {
		t.Errorf("FallbackOnly %d, want 2", got)
	}
}

func TestFilterMatch(t *testing.T) {
	s, now := opsFixture(t)
	tests := []struct {
		name string
		f    store.Filter
		want []string
	}{
		{"all", store.Filter{}, []string{keyLogin, keyLegacy42, keySmall, keyOtherSite, keyUserSeven, keyExpired, keyCorrupt, keyEmpty}},
		{"user 42", store.Filter{UserID: "42"}, []string{keyLogin, keyLegacy42}},
		{"user 9 (expired)", store.Filter{UserID: "9"}, []string{keyExpired}},
		{"invalid", store.Filter{Invalid: true}, []string{keyOtherSite, keyCorrupt}},
		{"expired", store.Filter{Expired: true}, []string{keyExpired}},
		{"older than a week", store.Filter{OlderThan: 7 * 24 * time.Hour}, []string{keyExpired}},
		{"user 42 and expired", store.Filter{UserID: "42", Expired: true}, nil},
	}
	for _, tt := range tests {
		var got []string
		err := s.Scan(context.Background(), func(e store.Entry) error {
			if tt.f.Match(e, s.Expired(e, now), now) {
				got = append(got, e.Key)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(got)
		want := append([]string(nil), tt.want...)
		sort.Strings(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, want)
		}
	}
}

func TestProblem(t *testing.T) {
	s, _ := opsFixture(t)
	problems := map[string]string{}
	if err := s.Scan(context.Background(), func(e store.Entry) error {
		if e.Err != nil {
			problems[e.Key] = store.Problem(e.Err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", s.path("plantedlink01")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Stat(context.Background(), "plantedlink01")
	problems["plantedlink01"] = store.Problem(err)
	want := map[string]string{keyOtherSite: "bad-signature", keyCorrupt: "corrupt", "plantedlink01": "not-regular"}
	if !reflect.DeepEqual(problems, want) {
		t.Errorf("problems %v, want %v", problems, want)
	}
}
