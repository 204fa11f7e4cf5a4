package cachestore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/cachestore/cachetest"
)

func TestMain(m *testing.M) { os.Exit(cachetest.Main(m)) }

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want Location
	}{
		{"redis://127.0.0.1:6380/2", Location{Kind: KindRedis, Network: "tcp", Addr: "127.0.0.1:6380", DB: 2}},
		{"redis://cache.example", Location{Kind: KindRedis, Network: "tcp", Addr: "cache.example:6379"}},
		{"rediss://alice:s3cret@cache.example:6390/1", Location{Kind: KindRedis, Network: "tcp", Addr: "cache.example:6390", TLS: true, DB: 1, Username: "alice", Password: "s3cret"}},
		{"redis://[::1]:7000?db=3", Location{Kind: KindRedis, Network: "tcp", Addr: "[::1]:7000", DB: 3}},
		{"unix:///run/redis/redis.sock?db=4", Location{Kind: KindRedis, Network: "unix", Addr: "/run/redis/redis.sock", DB: 4}},
		{"memcached://127.0.0.1:11299", Location{Kind: KindMemcached, Network: "tcp", Addr: "127.0.0.1:11299"}},
		{"memcached://mc", Location{Kind: KindMemcached, Network: "tcp", Addr: "mc:11211"}},
	} {
		got, err := ParseURL(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}
	for _, bad := range []string{"http://x", "redis://", "redis://h/x", "unix://relative.sock", "memcached://a:1/b",
		"memcached://u:secretpw@h:1", "memcached://h?db=1", "redis://:secretpw@h/-1", "::"} {
		_, err := ParseURL(bad)
		if err == nil {
			t.Errorf("%s accepted", bad)
		} else if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%s: the error shows the password: %v", bad, err)
		}
	}
	l, _ := ParseURL("rediss://alice:s3cret@cache.example:6390/1")
	if s := l.String(); strings.Contains(s, "s3cret") || s != "rediss://alice@cache.example:6390/1" {
		t.Errorf("String() = %q", s)
	}
	for url, want := range map[string]bool{"redis://:pw@h": true, "redis://u:pw@h": true, "redis://u@h": false,
		"redis://h?password=pw": true, "redis://h/0": false, "unix:///s?db=1": false} {
		if HasPassword(url) != want {
			t.Errorf("HasPassword(%q) = %v", url, !want)
		}
	}
}

func TestKeys(t *testing.T) {
	k, err := NewKeys("shop", 3, false)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := k.CacheKey("vec1aaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	if err != nil || ck != "shop:3:django.contrib.sessions.cachevec1aaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
		t.Errorf("%q %v", ck, err)
	}
	if s, ok := k.SessionKey(ck); !ok || s != "vec1aaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
		t.Errorf("SessionKey: %q %v", s, ok)
	}
	d, _ := NewKeys("", 0, true)
	if ck, _ := d.CacheKey("abcdefgh"); ck != ":1:django.contrib.sessions.cached_dbabcdefgh" {
		t.Errorf("cached_db default: %q", ck)
	}
	for _, bad := range []string{"short", "UPPERCASE12", "with space1", "../../etc/x", strings.Repeat("a", 250), "abcdefg\n"} {
		if _, err := k.CacheKey(bad); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, ck := range []string{"shop:3:django.contrib.sessions.cacheX", "other:3:django.contrib.sessions.cacheabcdefgh",
		"shop:3:django.contrib.sessions.cached_dbabcdefgh"} {
		if s, ok := k.SessionKey(ck); ok {
			t.Errorf("%q read as session %q", ck, s)
		}
	}
	if _, err := NewKeys("has space", 1, false); err == nil {
		t.Error("a prefix with a space accepted")
	}
}

// backend is one server a test runs against.
type backend struct {
	name string
	url  string
}

func backends(t *testing.T) []backend {
	r := cachetest.Redis(t)
	m := cachetest.Memcached(t)
	return []backend{{"redis", r.URL()}, {"redis-unix", r.SocketURL()}, {"memcached", m.URL()}}
}

func open(t testing.TB, url string, mod func(*Config)) Client {
	t.Helper()
	loc, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Location: loc, KeyPrefix: cachetest.Prefix(t), Version: 2, Metadump: true,
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func near(t *testing.T, what string, got, want time.Time, slack time.Duration) {
	t.Helper()
	if d := got.Sub(want); d < -slack || d > slack {
		t.Errorf("%s: %v, want %v (±%v)", what, got, want, slack)
	}
}

func TestOperations(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			c := open(t, b.url, nil)
			const k = "sess0000000000000000000000000001"
			if _, err := c.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("get of a missing key: %v", err)
			}
			v1 := []byte("\x80\x05value one")
			it, err := c.Add(ctx, k, v1, 1, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Add(ctx, k, []byte("other"), 1, time.Hour); !errors.Is(err, store.ErrExists) {
				t.Fatalf("second add: %v", err)
			}
			got, err := c.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Value, v1) || got.Version != it.Version || got.Version.IsZero() || got.Size != int64(len(v1)) {
				t.Fatalf("get: %+v, add said %+v", got, it)
			}
			if b.name == "memcached" && got.Flags != 1 {
				t.Errorf("flags %d", got.Flags)
			}
			near(t, "expiry after add", got.Expiry, time.Now().Add(time.Hour), 3*time.Second)

			// An edit keeps the TTL.
			v2 := []byte("\x80\x05value two")
			set, err := c.CompareAndSet(ctx, k, got.Version, v2, 1, KeepTTL)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "expiry after an edit", set.Expiry, got.Expiry, 2*time.Second)
			again, _ := c.Get(ctx, k)
			near(t, "expiry read after an edit", again.Expiry, got.Expiry, 2*time.Second)
			if !bytes.Equal(again.Value, v2) || again.Version != set.Version || again.Version == got.Version {
				t.Fatalf("after CAS: %+v (set %+v)", again, set)
			}
			if _, err := c.CompareAndSet(ctx, k, got.Version, []byte("lost"), 1, KeepTTL); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("CAS with a stale version: %v", err)
			}
			// A new TTL when asked (the session's expiry changed).
			set, err = c.CompareAndSet(ctx, k, again.Version, v2, 1, 5*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "expiry of a CAS with a TTL", set.Expiry, time.Now().Add(5*time.Minute), 3*time.Second)
			// Renew.
			if _, err := c.SetTTL(ctx, k, got.Version, time.Hour); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("renew with a stale version: %v", err)
			}
			ren, err := c.SetTTL(ctx, k, set.Version, 2*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "expiry after renew", ren.Expiry, time.Now().Add(2*time.Hour), 3*time.Second)
			cur, _ := c.Get(ctx, k)
			near(t, "expiry read after renew", cur.Expiry, time.Now().Add(2*time.Hour), 3*time.Second)
			if !bytes.Equal(cur.Value, v2) {
				t.Fatalf("renew changed the value: %q", cur.Value)
			}
			// Delete.
			if err := c.DeleteIf(ctx, k, got.Version); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("delete with a stale version: %v", err)
			}
			if err := c.DeleteIf(ctx, k, cur.Version); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CompareAndSet(ctx, k, cur.Version, v2, 1, KeepTTL); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("CAS of a deleted key: %v", err)
			}
			if err := c.Delete(ctx, k); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("delete of a deleted key: %v", err)
			}
			if _, err := c.Add(ctx, k, v1, 0, time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := c.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Add(ctx, k, v1, 0, 0); err == nil {
				t.Fatal("a TTL of 0 accepted")
			}
			// A TTL over 30 days (Memcached reads those as absolute times).
			long := 40 * 24 * time.Hour
			if _, err := c.Add(ctx, k, v1, 1, long); err != nil {
				t.Fatal(err)
			}
			cur, err = c.Get(ctx, k)
			if err != nil {
				t.Fatalf("a 40-day TTL: %v", err)
			}
			near(t, "a 40-day expiry", cur.Expiry, time.Now().Add(long), 3*time.Second)
			if err := c.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestInvalidKeysNeverReachTheServer(t *testing.T) {
	// A server that accepts but never answers: any command would hang until the timeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for _, u := range []string{"redis://" + l.Addr().String(), "memcached://" + l.Addr().String()} {
		c := open(t, u, func(c *Config) { c.ReadTimeout = time.Minute })
		start := time.Now()
		for _, k := range []string{"", "short", "../../etc/passwd", "bad key with spaces", "UPPER000000"} {
			_, err1 := c.Get(ctx, k)
			_, err2 := c.Add(ctx, k, []byte("x"), 1, time.Hour)
			err3 := c.Delete(ctx, k)
			for _, err := range []error{err1, err2, err3} {
				if !errors.Is(err, store.ErrInvalidKey) {
					t.Errorf("%s %q: %v", u, k, err)
				}
			}
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: invalid keys took %v (a command was sent)", u, d)
		}
	}
}

func TestScan(t *testing.T) {
	ctx := context.Background()
	r := cachetest.Redis(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			c := open(t, b.url, func(c *Config) { c.ScanCount = 100 })
			other := open(t, b.url, nil) // another prefix on the same server: never listed
			want := map[string]bool{}
			for i := 0; i < 1050; i++ {
				k := fmt.Sprintf("scan%028d", i)
				want[k] = true
				if _, err := c.Add(ctx, k, []byte(k), 1, time.Hour); err != nil {
					t.Fatal(err)
				}
				if i%10 == 0 {
					other.Add(ctx, k, []byte("x"), 1, time.Hour)
				}
			}
			if b.name == "redis" { // a key under the prefix that is no session key, and one of another type
				rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
				rdb.Set(ctx, c.Keys().Prefix()+"NOT-A-KEY", "x", 0)
				rdb.RPush(ctx, c.Keys().Prefix()+"alistkey0000", "x")
				rdb.Close()
			}
			got := map[string]int{}
			var wrongType int
			err := c.Scan(ctx, func(it Item) error {
				if it.Err != nil {
					if errors.Is(it.Err, ErrWrongType) && it.Key == "alistkey0000" {
						wrongType++
						return nil
					}
					t.Errorf("%s: %v", it.Key, it.Err)
					return nil
				}
				got[it.Key]++
				if string(it.Value) != it.Key || it.Expiry.IsZero() || it.Version.IsZero() {
					t.Errorf("item %+v", it)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for k := range want {
				if got[k] != 1 {
					t.Errorf("%s listed %d times", k, got[k])
				}
			}
			if len(got) != len(want) {
				t.Errorf("listed %d sessions, want %d", len(got), len(want))
			}
			if b.name == "redis" && wrongType != 1 {
				t.Errorf("the list key was reported %d times", wrongType)
			}
			stop := errors.New("stop")
			n := 0
			if err := c.Scan(ctx, func(Item) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
				t.Errorf("a callback error: %v after %d", err, n)
			}
		})
	}
}

func TestMemcachedWithoutMetadumpCannotList(t *testing.T) {
	c := open(t, cachetest.Memcached(t).URL(), func(c *Config) { c.Metadump = false })
	err := c.Scan(context.Background(), func(Item) error { return nil })
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "metadump") {
		t.Fatalf("%v", err)
	}
}

func TestTooLargeValues(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			c := open(t, b.url, func(c *Config) { c.MaxValueSize = 100 })
			big := bytes.Repeat([]byte("x"), 1000)
			if _, err := c.Add(ctx, "bigvalue00000000", big, 1, time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Add(ctx, "smallvalue000000", []byte("small"), 1, time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Get(ctx, "bigvalue00000000"); !errors.Is(err, store.ErrTooLarge) {
				t.Fatalf("get: %v", err)
			}
			var seen []string
			err := c.Scan(ctx, func(it Item) error {
				switch {
				case it.Key == "bigvalue00000000" && errors.Is(it.Err, store.ErrTooLarge) && it.Value == nil && it.Size == 1000:
				case it.Key == "smallvalue000000" && it.Err == nil && string(it.Value) == "small":
				default:
					t.Errorf("item %+v", it)
				}
				seen = append(seen, it.Key)
				return nil
			})
			if err != nil || len(seen) != 2 {
				t.Fatalf("scan: %v %v", seen, err)
			}
			// The connection is still in step after a skipped value.
			if it, err := c.Get(ctx, "smallvalue000000"); err != nil || string(it.Value) != "small" {
				t.Fatalf("after: %+v %v", it, err)
			}
			// A value too large to read can still be deleted, only as it was seen.
			it, err := c.Get(ctx, "bigvalue00000000")
			if !errors.Is(err, store.ErrTooLarge) || it.Version.IsZero() || it.Size != 1000 || it.Value != nil {
				t.Fatalf("get of a large value: %+v %v", it, err)
			}
			cur, _ := c.Get(ctx, "smallvalue000000")
			if err := c.DeleteIf(ctx, "bigvalue00000000", cur.Version); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("delete with another version: %v", err)
			}
			// Rewritten as another value too large to read: not the version seen.
			if err := c.Delete(ctx, "bigvalue00000000"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Add(ctx, "bigvalue00000000", bytes.Repeat([]byte("y"), 1001), 1, time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := c.DeleteIf(ctx, "bigvalue00000000", it.Version); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("a large value rewritten since seen was deleted: %v", err)
			}
			it, _ = c.Get(ctx, "bigvalue00000000")
			// It can be replaced while it is the version seen.
			set, err := c.CompareAndSet(ctx, "bigvalue00000000", it.Version, []byte("replaced"), 1, KeepTTL)
			if err != nil {
				t.Fatalf("CAS over a value too large to read: %v", err)
			}
			near(t, "expiry kept", set.Expiry, it.Expiry, 2*time.Second)
			if err := c.Delete(ctx, "bigvalue00000000"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Add(ctx, "bigvalue00000000", bytes.Repeat([]byte("z"), 1002), 1, time.Hour); err != nil {
				t.Fatal(err)
			}
			it, _ = c.Get(ctx, "bigvalue00000000")
			if err := c.DeleteIf(ctx, "bigvalue00000000", it.Version); err != nil {
				t.Fatalf("delete of a large value as seen: %v", err)
			}
			if _, err := c.Get(ctx, "bigvalue00000000"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("after delete: %v", err)
			}
		})
	}
}

func TestWrongPasswordIsNotShown(t *testing.T) {
	const right, wrong = "right-password-5d1f", "wrong-password-9c2e"
	s := cachetest.RedisWithPassword(t, right)
	ctx := context.Background()
	for _, pw := range []string{wrong, ""} {
		c := open(t, s.URL(), func(c *Config) { c.Password = pw })
		err := c.Ping(ctx)
		if err == nil {
			t.Fatalf("password %q accepted", pw)
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), right) {
			t.Fatalf("the error shows a password: %v", err)
		}
		if !strings.Contains(err.Error(), "WRONGPASS") && !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("the error does not say what is wrong: %v", err)
		}
		if _, err := c.Get(ctx, "abcdefgh0000"); err == nil || strings.Contains(err.Error(), wrong) {
			t.Errorf("get: %v", err)
		}
	}
	// The password from a URL (an environment variable) works and never shows.
	c := open(t, strings.Replace(s.URL(), "redis://", "redis://:"+right+"@", 1), nil)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.String(), right) {
		t.Errorf("String() = %s", c)
	}
	if _, err := c.Get(ctx, "abcdefgh0000"); !errors.Is(err, store.ErrNotFound) || strings.Contains(err.Error(), right) {
		t.Errorf("get: %v", err)
	}
}

func TestRedact(t *testing.T) {
	base := fmt.Errorf("dial redis://:hunter2@h: %w", store.ErrNotFound)
	err := redact(base, "hunter2", "")
	if strings.Contains(err.Error(), "hunter2") || !errors.Is(err, store.ErrNotFound) || errors.Unwrap(err) != nil {
		t.Fatalf("%v", err)
	}
	if redact(nil, "x") != nil || redact(base, "absent") != base {
		t.Fatal("redact changed what it should not")
	}
}

// A server that stops answering or goes away gives errors within the
// timeouts, never a hang, and a client recovers when it is back.
func TestServerGoesAway(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"redis", "memcached"} {
		t.Run(kind, func(t *testing.T) {
			s := cachetest.Start(t, kind)
			c := open(t, s.URL(), func(c *Config) {
				c.DialTimeout, c.ReadTimeout, c.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
			})
			if _, err := c.Add(ctx, "awaykey000000000", []byte("v"), 1, time.Hour); err != nil {
				t.Fatal(err)
			}
			s.Pause()
			start := time.Now()
			_, err := c.Get(ctx, "awaykey000000000")
			scanErr := c.Scan(ctx, func(Item) error { return nil })
			s.Resume()
			if err == nil || scanErr == nil {
				t.Fatalf("a paused server answered: %v / %v", err, scanErr)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("a paused server took %v to fail", d)
			}
			if _, err := c.Get(ctx, "awaykey000000000"); err != nil {
				t.Fatalf("after resume: %v", err)
			}
			// A context deadline shorter than the timeouts wins.
			s.Pause()
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			start = time.Now()
			_, err = c.Get(short, "awaykey000000000")
			cancel()
			s.Resume()
			if err == nil || time.Since(start) > time.Second {
				t.Fatalf("context deadline: %v after %v", err, time.Since(start))
			}
			s.Stop()
			start = time.Now()
			if _, err := c.Get(ctx, "awaykey000000000"); err == nil || time.Since(start) > 3*time.Second {
				t.Fatalf("a stopped server: %v after %v", err, time.Since(start))
			}
		})
	}
}

// A listing of values heavier than scanBytes in all reads them in groups,
// each once.
func TestScanGroupsHeavyValues(t *testing.T) {
	ctx := context.Background()
	r, m := cachetest.Redis(t), cachetest.Memcached(t)
	for _, b := range []backend{{"redis", r.URL()}, {"memcached", m.URL()}} {
		t.Run(b.name, func(t *testing.T) {
			c := open(t, b.url, func(c *Config) { c.MaxValueSize = 1 << 20 })
			const n, size = 40, 900 << 10
			for i := 0; i < n; i++ {
				v := bytes.Repeat([]byte{byte('a' + i%26)}, size)
				if _, err := c.Add(ctx, fmt.Sprintf("heavy%027d", i), v, 1, time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			got := map[string]int{}
			err := c.Scan(ctx, func(it Item) error {
				if it.Err != nil || len(it.Value) != size {
					t.Errorf("%s: %d bytes, %v", it.Key, len(it.Value), it.Err)
				}
				got[it.Key]++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("listed %d of %d", len(got), n)
			}
			for k, times := range got {
				if times != 1 {
					t.Errorf("%s listed %d times", k, times)
				}
			}
		})
	}
}

// Reads by others (Django's gets) move items between the segments of
// Memcached's LRU, and a metadump walking it then passes over some: the
// listing still finds every session.
func TestMemcachedListingWhileReadsBump(t *testing.T) {
	ctx := context.Background()
	srv := cachetest.Memcached(t)
	c := open(t, srv.URL(), nil)
	const n = 200
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("bumped%026d", i)
		if _, err := c.Add(ctx, keys[i], []byte("value"), 1, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	for round := range 4 {
		// A Django client's reads: plain gets, which bump.
		for _, k := range keys {
			fmt.Fprintf(nc, "get %s\r\n", c.Keys().Prefix()+k)
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if l == "END\r\n" {
					break
				}
			}
		}
		got := map[string]bool{}
		if err := c.Scan(ctx, func(it Item) error { got[it.Key] = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("round %d: listed %d of %d", round, len(got), n)
		}
	}
}

// A Redis value over the size bound never leaves the server: reading or
// listing it costs its length, not its bytes.
func TestRedisLargeValueStaysOnTheServer(t *testing.T) {
	ctx := context.Background()
	srv := cachetest.Redis(t)
	c := open(t, srv.URL(), func(c *Config) { c.MaxValueSize = 1 << 20 })
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	const k = "largevalue000000"
	if err := rdb.Set(ctx, c.Keys().Prefix()+k, bytes.Repeat([]byte("x"), 4<<20), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	sent := func() int64 {
		info, err := rdb.Info(ctx, "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(l, "total_net_output_bytes:"); ok {
				var n int64
				fmt.Sscan(v, &n)
				return n
			}
		}
		t.Fatal("no total_net_output_bytes in INFO stats")
		return 0
	}
	before := sent()
	if _, err := c.Get(ctx, k); !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("get: %v", err)
	}
	if err := c.Scan(ctx, func(Item) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := sent() - before; n > 64<<10 {
		t.Fatalf("the server sent %d bytes to read and list a value over the bound", n)
	}
}
