// Package cachetest starts private Redis and Memcached servers for tests:
// loopback ports (and a Unix socket for Redis) in a temporary directory, no
// persistence, stopped when the test process ends. A package that uses
// them calls Main from its TestMain; the servers also die with the test
// process if it is killed.
//
// A missing redis-server or memcached skips the test, except under CI=true,
// where it fails it (apt-get install redis-server memcached).
package cachetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Server is one running server.
type Server struct {
	Addr     string // 127.0.0.1:port
	Socket   string // Redis only: the Unix socket path
	Password string // Redis requirepass, if any
	Dir      string

	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// URL is the server's cache URL without a password: redis://127.0.0.1:port/0
// or memcached://127.0.0.1:port.
func (s *Server) URL() string {
	if s.Socket != "" {
		return "redis://" + s.Addr + "/0"
	}
	return "memcached://" + s.Addr
}

// SocketURL is unix:///path?db=0 (Redis only).
func (s *Server) SocketURL() string { return "unix://" + s.Socket + "?db=0" }

var (
	mu      sync.Mutex
	shared  = map[string]*Server{}
	started []*Server
	counter atomic.Int64
)

// Main runs the tests and stops every server started for them.
func Main(m *testing.M) int {
	code := m.Run()
	StopAll()
	return code
}

// StopAll stops every server this process started.
func StopAll() {
	mu.Lock()
	defer mu.Unlock()
	for _, s := range started {
		s.Stop()
	}
	started, shared = nil, map[string]*Server{}
}

// Prefix is a KEY_PREFIX no other test of this process uses, so tests can
// share a server.
func Prefix(t testing.TB) string {
	return fmt.Sprintf("t%d_%d", os.Getpid(), counter.Add(1))
}

func need(t testing.TB, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("missing prerequisite (CI=true, not skipping): %s: %v; install with apt-get install redis-server memcached", bin, err)
		}
		t.Skipf("missing prerequisite: %s: %v", bin, err)
	}
	return p
}

// Redis returns the shared private Redis of this test process.
func Redis(t testing.TB) *Server { return sharedServer(t, "redis", "") }

// RedisWithPassword returns the shared private Redis whose requirepass is
// password (given to it in a configuration file, never on its command line).
func RedisWithPassword(t testing.TB, password string) *Server {
	return sharedServer(t, "redis", password)
}

// Memcached returns the shared private Memcached (one server, LRU crawler on).
func Memcached(t testing.TB) *Server { return sharedServer(t, "memcached", "") }

func sharedServer(t testing.TB, kind, password string) *Server {
	t.Helper()
	bin := kind + "-server"
	if kind == "memcached" {
		bin = "memcached"
	}
	path := need(t, bin)
	mu.Lock()
	defer mu.Unlock()
	id := kind + "\x00" + password
	if s, ok := shared[id]; ok {
		return s
	}
	var s *Server
	var err error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before the server binds it
		if kind == "redis" {
			s, err = startRedis(path, password)
		} else {
			s, err = startMemcached(path)
		}
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting %s: %v", kind, err)
	}
	shared[id] = s
	started = append(started, s)
	return s
}

// Start starts a private server of its own for one test (one the test
// stops, for example to see a server go away), stopped at the end of t.
func Start(t testing.TB, kind string) *Server {
	t.Helper()
	bin := map[string]string{"redis": "redis-server", "memcached": "memcached"}[kind]
	path := need(t, bin)
	var s *Server
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if kind == "redis" {
			s, err = startRedis(path, "")
		} else {
			s, err = startMemcached(path)
		}
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting %s: %v", kind, err)
	}
	t.Cleanup(s.Stop)
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startRedis(bin, password string) (*Server, error) {
	dir, err := os.MkdirTemp("", "sessionfs-redis-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Socket: filepath.Join(dir, "redis.sock"), Password: password, Dir: dir,
		log: filepath.Join(dir, "redis.log")}
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\nunixsocket %s\nunixsocketperm 700\nlogfile %s\ndatabases 16\n",
		port, dir, s.Socket, s.log)
	if password != "" {
		conf += "requirepass " + password + "\n"
	}
	confPath := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, confPath)
	return s, s.start()
}

func startMemcached(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "sessionfs-memcached-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir, log: filepath.Join(dir, "memcached.log")}
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64", "-o", "lru_crawler"}
	if os.Geteuid() == 0 { // memcached refuses to run as root
		u := "nobody"
		if _, err := user.Lookup("memcache"); err == nil {
			u = "memcache"
		}
		args = append(args, "-u", u)
	}
	s.cmd = exec.Command(bin, args...)
	return s, s.start()
}

func (s *Server) start() error {
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(s.Dir)
		return err
	}
	logf.Close()
	s.done = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			out, _ := os.ReadFile(s.log)
			os.RemoveAll(s.Dir)
			return fmt.Errorf("%s exited: %s", s.cmd.Path, strings.TrimSpace(string(out)))
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("%s did not listen on %s within 10 s", s.cmd.Path, s.Addr)
}

// Stop kills the server (by its own pid) and removes its directory.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.Dir)
}

// Pause stops the server process (SIGSTOP) so that it accepts connections
// but never answers, and returns once every thread of it is stopped (the
// signal is delivered asynchronously). Resume continues it.
func (s *Server) Pause() {
	s.cmd.Process.Signal(syscall.SIGSTOP)
	tasks := fmt.Sprintf("/proc/%d/task", s.cmd.Process.Pid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if allStopped(tasks) {
			return
		}
	}
}

// allStopped reports whether every thread under /proc/PID/task is in state T.
func allStopped(tasks string) bool {
	ents, err := os.ReadDir(tasks)
	if err != nil || len(ents) == 0 {
		return false
	}
	for _, e := range ents {
		stat, err := os.ReadFile(filepath.Join(tasks, e.Name(), "stat"))
		if err != nil {
			return false
		}
		// pid (comm) state ...: comm may hold spaces, so read after the last ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
			return false
		}
	}
	return true
}

func (s *Server) Resume() { s.cmd.Process.Signal(syscall.SIGCONT) }

// Kill kills the server (SIGKILL: a crash) and keeps its directory, for
// Restart.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// Restart starts the killed server again on the same address (empty:
// nothing is persisted).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
	if err := s.start(); err != nil {
		t.Fatalf("restarting %s: %v", s.cmd.Path, err)
	}
}
