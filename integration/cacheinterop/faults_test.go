package cacheinterop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/integration/mounttest"
	"github.com/sessionfs/sessionfs/store/cachestore/cachetest"
)

// pythonPickle is the pickle CPython makes of the expression expr (after
// the statements setup), at protocol 4.
func pythonPickle(t *testing.T, setup, expr string) []byte {
	t.Helper()
	out, err := exec.Command(harness.SystemPython, "-c",
		"import pickle, sys\n"+setup+"\nsys.stdout.buffer.write(pickle.dumps("+expr+", 4))").Output()
	if err != nil {
		t.Fatalf("python pickle of %s: %v", expr, err)
	}
	return out
}

// TestPlantedPicklesAreListedInvalidNeverRun: values no Django cache client
// would unpickle safely, planted in Redis under session keys, are listed
// as invalid by the CLI and in the mount's .invalid/, never executed, and
// stay byte-identical through listing, reading, verify and stats.
func TestPlantedPicklesAreListedInvalidNeverRun(t *testing.T) {
	srv := cachetest.Redis(t)
	s := &site{t: t, dj: harness.RequireDjango(t, "4.2"), url: "redis://" + srv.Addr + "/6", backend: "django.core.cache.backends.redis.RedisCache"}
	marker := filepath.Join(t.TempDir(), "pwned")
	good := s.create(`{"_auth_user_id": "5", "ok": true}`)[0]
	planted := map[string][]byte{
		// {"x": os.system("touch MARKER")}, as pickle's REDUCE would run it.
		"reduceossystem01": []byte("(dp0\nS'x'\ncposix\nsystem\n(S'touch " + marker + "'\ntRs."),
		// 2**60 lists through 60 memo references: tiny pickled, endless as JSON.
		"memobomb00000001": pythonPickle(t, "a = []\nfor _ in range(60): a = [a, a]", `{"x": a}`),
		"notadict00000001": pythonPickle(t, "", `[1, 2, 3]`),
		"builtinseval0001": []byte("\x80\x04c__builtin__\neval\n(V__import__('os').system('touch " + marker + "')\ntR."),
		// Over the 16 MiB a value may have: never read into memory.
		"hugevalue0000001": append(pythonPickle(t, "", `{"x": "`+strings.Repeat("a", 10)+`"}`), make([]byte, 17<<20)...),
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: 6})
	defer rdb.Close()
	ctx := context.Background()
	for k, v := range planted {
		if err := rdb.Set(ctx, ":1:django.contrib.sessions.cache"+k, v, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	unchanged := func(when string) {
		t.Helper()
		for k, v := range planted {
			got, err := rdb.Get(ctx, ":1:django.contrib.sessions.cache"+k).Bytes()
			if err != nil || string(got) != string(v) {
				t.Fatalf("%s: the planted value of %s changed or went (%d bytes, %v)", when, k, len(got), err)
			}
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%s: a planted pickle was executed (%s exists)", when, marker)
		}
	}

	listed := s.ls()
	for k := range planted {
		if r, ok := listed[k]; !ok || r.Error == "" {
			t.Errorf("ls --json: planted %s: %+v (listed: %v)", k, r, ok)
		}
	}
	if r := listed[good]; r.Error != "" {
		t.Errorf("ls --json: Django's session %s: %s", good, r.Error)
	}
	if out := s.cli("", "verify"); out.code != 3 || strings.Count(out.stdout, "\n") != len(planted) {
		t.Errorf("verify: exit %d, want 3 and one line per planted value:\n%s%s", out.code, out.stdout, out.stderr)
	}
	if out := s.cli("", "show", "reduceossystem01"); out.code != 3 {
		t.Errorf("show of the REDUCE pickle: exit %d, want 3: %s", out.code, out.stderr)
	}
	unchanged("after the CLI")

	m := mounttest.Start(t, mounttest.Options{Args: s.args()})
	invalid := fileNames(t, filepath.Join(m.Dir, ".invalid"))
	for k := range planted {
		if !slices.Contains(invalid, k) && !slices.Contains(invalid, k+".json") {
			t.Errorf(".invalid lists %v, not the planted %s", invalid, k)
		}
	}
	names := fileNames(t, m.Dir)
	if !slices.Contains(names, good+".json") {
		t.Errorf("the mount lists %v, not Django's %s", names, good)
	}
	for k := range planted {
		if slices.Contains(names, k+".json") {
			t.Errorf("the mount lists the planted %s as a session", k)
		}
		if _, err := os.ReadFile(m.File(k)); !os.IsNotExist(err) {
			t.Errorf("reading the planted %s through the mount: %v, want ENOENT", k, err)
		}
	}
	sh(t, "cat "+m.Dir+"/.stats.json >/dev/null; ls -l "+m.Dir+"/.invalid >/dev/null")
	if err := m.Stop(t); err != nil {
		t.Fatal(err)
	}
	unchanged("after the mount")
	s.wantLoad("Django's own session beside the planted ones", good, `{"_auth_user_id": "5", "ok": true}`)
}

// TestServerKilledWhileMounted: a mount whose Redis dies answers EIO at
// once (no hang), and serves again when the server is back.
func TestServerKilledWhileMounted(t *testing.T) {
	srv := cachetest.Start(t, "redis")
	s := &site{t: t, dj: harness.RequireDjango(t, "4.2"), url: "redis://" + srv.Addr + "/0", backend: "django.core.cache.backends.redis.RedisCache"}
	key := s.create(`{"_auth_user_id": "3", "v": 1}`)[0]
	m := mounttest.Start(t, mounttest.Options{Args: s.args()})
	if _, err := os.ReadFile(m.File(key)); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	for _, op := range []string{"ls " + m.Dir, "cat " + m.File(key), "cat " + m.Dir + "/.stats.json"} {
		start := time.Now()
		out, err := exec.Command("timeout", "30", "sh", "-c", op).CombinedOutput()
		took := time.Since(start)
		if err == nil || !strings.Contains(string(out), "Input/output error") {
			t.Errorf("%s with the server down: %v: %s, want EIO", op, err, out)
		}
		if took > 10*time.Second {
			t.Errorf("%s with the server down took %v", op, took)
		}
	}
	srv.Restart(t)
	// The private server keeps nothing: Django starts again.
	key2 := s.create(`{"_auth_user_id": "3", "v": 2}`)[0]
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := os.ReadFile(m.File(key2))
		if err == nil && strings.Contains(string(b), `"v": 2`) && slices.Contains(fileNames(t, m.Dir), key2+".json") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mount does not serve again after the server came back: %v\n%s", err, m.Stderr())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := m.Stop(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Stderr(), "session store unavailable") {
		t.Errorf("the mount's log does not say the store was unavailable:\n%s", m.Stderr())
	}
}

// startMemcachedNoDump starts a Memcached with metadump disabled (-X): no
// listing, as on a server whose operator turned dumping off.
func startMemcachedNoDump(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		harness.Missing(t, "memcached: %v (apt-get install memcached)", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "16", "-X"}
	if os.Geteuid() == 0 {
		u := "nobody"
		if _, err := user.Lookup("memcache"); err == nil {
			u = "memcache"
		}
		args = append(args, "-u", u)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "memcached://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("memcached -X did not listen on %s", addr)
		}
	}
}

// TestMemcachedWithoutListing: over a Memcached that cannot dump its keys,
// ls says why and fails; the mount lists no session but serves, changes
// and removes each by its exact name.
func TestMemcachedWithoutListing(t *testing.T) {
	s := &site{t: t, dj: harness.RequireDjango(t, "3.2"), url: startMemcachedNoDump(t), backend: "django.core.cache.backends.memcached.PyMemcacheCache"}
	keys := s.create(`{"_auth_user_id": "9", "n": 1}`, `{"gone": "soon"}`)
	if out := s.cli("", "ls"); out.code != 1 || !strings.Contains(out.stderr, "lru_crawler metadump") {
		t.Fatalf("ls over memcached -X: exit %d: %s", out.code, out.stderr)
	}
	sameSession(t, "show by name", []byte(s.mustCLI("", "show", keys[0])), s.load(keys[0]))
	m := mounttest.Start(t, mounttest.Options{Args: s.args()})
	for _, n := range fileNames(t, m.Dir) {
		if !strings.HasPrefix(n, ".") {
			t.Errorf("the mount lists %s over a Memcached without listing", n)
		}
	}
	if out, err := exec.Command("cat", m.Dir+"/.stats.json").CombinedOutput(); err == nil || !strings.Contains(string(out), "not supported") {
		t.Errorf(".stats.json over a Memcached without listing: %v: %s, want EOPNOTSUPP", err, out)
	}
	sh(t, `sed -i 's/"n": 1/"n": 2/' `+m.File(keys[0])+" && rm "+m.File(keys[1]))
	if err := m.Stop(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Stderr(), "serves each by its exact name") {
		t.Errorf("the mount's log does not say it cannot list:\n%s", m.Stderr())
	}
	s.want("after sed -i and rm by name", map[string]string{keys[0]: `{"_auth_user_id": "9", "n": 2}`, keys[1]: ""})
}

// TestRevokeRemovesWhatARequestInFlightPutBack: Django's cache save is a
// GET then a SET; a request that loaded the session before revoke removed
// it saves it back afterwards. revoke looks again, removes it again, and
// says so; Django then loads nothing.
func TestRevokeRemovesWhatARequestInFlightPutBack(t *testing.T) {
	srv := cachetest.Redis(t)
	s := &site{t: t, dj: harness.RequireDjango(t, "4.2"), url: "redis://" + srv.Addr + "/7", backend: "django.core.cache.backends.redis.RedisCache"}
	key := s.create(`{"_auth_user_id": "42", "step": 1}`)[0]
	dir := t.TempDir()
	loaded, goOn := filepath.Join(dir, "loaded"), filepath.Join(dir, "go")
	request := make(chan error, 1)
	go func() {
		request <- s.runDjango("slow_modify", map[string]any{"key": key, "set": map[string]any{"step": 2}, "loaded": loaded, "go": goOn}, nil)
	}()
	waitFor(t, "Django's request to load the session", func() bool { _, err := os.Stat(loaded); return err == nil })

	revoke := make(chan result, 1)
	go func() { revoke <- s.cli("", "revoke", "--user", "42") }()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: 7})
	defer rdb.Close()
	waitFor(t, "revoke to remove the session", func() bool {
		n, err := rdb.Exists(context.Background(), ":1:django.contrib.sessions.cache"+key).Result()
		return err == nil && n == 0
	})
	// The request saves now, after the removal: the session is back.
	if err := os.WriteFile(goOn, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-request; err != nil {
		t.Fatal(err)
	}
	out := <-revoke
	if out.code != 0 || !strings.Contains(out.stderr, "session "+key+" came back") || !strings.Contains(out.stderr, "1 came back and were removed again") {
		t.Fatalf("revoke: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	s.want("after revoke", map[string]string{key: ""})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestWrongCachePassword: a refused login is a clear error naming the
// server, never the password.
func TestWrongCachePassword(t *testing.T) {
	srv := cachetest.RedisWithPassword(t, "right-pw-93ab")
	file := writeFile(t, t.TempDir(), "url", "redis://:wrong-pw-1c2d@"+srv.Addr+"/0\n")
	out := run(t, "", "--session-engine", "cache", "--cache-url-file", file, "ls")
	if out.code != 1 || !strings.Contains(out.stderr, "session store unavailable") || !strings.Contains(out.stderr, srv.Addr) ||
		strings.Contains(out.stderr, "wrong-pw") {
		t.Fatalf("ls with a wrong password: exit %d: %s", out.code, out.stderr)
	}
	// On the command line, the password is refused before anything is tried.
	out = run(t, "", "--session-engine", "cache", "--cache-url", "redis://:right-pw-93ab@"+srv.Addr+"/0", "ls")
	if out.code != 1 || !strings.Contains(out.stderr, "$CACHE_URL") || strings.Contains(out.stderr, "right-pw") {
		t.Fatalf("ls with a password in argv: exit %d: %s", out.code, out.stderr)
	}
}

// TestSessionGoneWhileAnEditorHoldsIt: a session whose key goes (its TTL
// ends, or Django deletes it) while an editor has it open is not written
// back: the close fails with ENOENT and the key stays absent.
func TestSessionGoneWhileAnEditorHoldsIt(t *testing.T) {
	srv := cachetest.Redis(t)
	s := &site{t: t, dj: harness.RequireDjango(t, "4.2"), url: "redis://" + srv.Addr + "/10", backend: "django.core.cache.backends.redis.RedisCache"}
	key := s.create(`{"_auth_user_id": "4", "n": 1}`)[0]
	m := mounttest.Start(t, mounttest.Options{Args: s.args()})
	f, err := os.OpenFile(m.File(key), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	doc := make([]byte, 4096)
	n, err := f.Read(doc)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: 10})
	defer rdb.Close()
	if err := rdb.Del(context.Background(), ":1:django.contrib.sessions.cache"+key).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Replace(string(doc[:n]), `"n": 1`, `"n": 2`, 1)), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("close after the key went: %v, want ENOENT", err)
	}
	if err := m.Stop(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Stderr(), "was deleted (or its TTL ended) after this process read it") {
		t.Errorf("the mount's log does not say the session went:\n%s", m.Stderr())
	}
	s.want("after the refused save", map[string]string{key: ""})
}

// TestDjangoSavesWhileAnEditorHoldsIt: Django saves a session an editor
// has open; the editor's save is refused (EIO, a conflict), and Django's
// save stays: no lost update.
func TestDjangoSavesWhileAnEditorHoldsIt(t *testing.T) {
	srv := cachetest.Redis(t)
	s := &site{t: t, dj: harness.RequireDjango(t, "5.2"), url: "redis://" + srv.Addr + "/12", backend: "django.core.cache.backends.redis.RedisCache"}
	key := s.create(`{"_auth_user_id": "4", "n": 1}`)[0]
	m := mounttest.Start(t, mounttest.Options{Args: s.args()})
	f, err := os.OpenFile(m.File(key), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	doc := make([]byte, 4096)
	n, err := f.Read(doc)
	if err != nil {
		t.Fatal(err)
	}
	s.django("modify", []map[string]any{{"key": key, "set": map[string]any{"django": true}}}, nil)
	if _, err := f.WriteAt([]byte(strings.Replace(string(doc[:n]), `"n": 1`, `"n": 2`, 1)), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("close after Django saved meanwhile: %v, want EIO", err)
	}
	if err := m.Stop(t); err != nil {
		t.Fatal(err)
	}
	s.want("after the refused save", map[string]string{key: `{"_auth_user_id": "4", "n": 1, "django": true}`})
}

// TestServerDownAtMountStart: a mount whose Redis is down when it starts
// serves EIO, not a hang, and the sessions once the server is up.
func TestServerDownAtMountStart(t *testing.T) {
	srv := cachetest.Start(t, "redis")
	s := &site{t: t, dj: harness.RequireDjango(t, "4.2"), url: "redis://" + srv.Addr + "/0", backend: "django.core.cache.backends.redis.RedisCache"}
	srv.Kill()
	m := mounttest.Start(t, mounttest.Options{Args: s.args()})
	start := time.Now()
	if out, err := exec.Command("timeout", "30", "ls", m.Dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "Input/output error") {
		t.Fatalf("ls with the server down: %v: %s, want EIO", err, out)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("ls with the server down took %v", took)
	}
	srv.Restart(t)
	key := s.create(`{"_auth_user_id": "3", "up": true}`)[0]
	waitFor(t, "the mount to list the session", func() bool {
		names, err := os.ReadDir(m.Dir)
		if err != nil {
			return false
		}
		for _, n := range names {
			if n.Name() == key+".json" {
				return true
			}
		}
		return false
	})
	if err := m.Stop(t); err != nil {
		t.Fatal(err)
	}
}
