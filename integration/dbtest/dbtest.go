// Package dbtest starts private PostgreSQL and MariaDB servers for tests:
// each in its own temporary directory, listening on a unix socket there and
// on a free loopback port, with password authentication, run as the
// postgres / mysql user when the tests run as root (PostgreSQL refuses root).
//
// The shared servers (Postgres, MariaDB) start once per test process, on
// first use; every test gets its own database and user (NewDatabase),
// dropped at its end. Shutdown, called from TestMain, stops them; should the
// test process die first, each server's supervisor sees its stdin close and
// stops the server and removes its directory, so nothing outlives the run.
// Start gives a server of its own to a test that stops it.
//
// A missing server binary skips the test, or fails it under CI=true, with
// the command that installs it.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/sessionfs/sessionfs/integration/harness"
	"github.com/sessionfs/sessionfs/store/dbstore"
)

// Binaries the servers need, as Debian bookworm installs them.
const (
	pgBinDir         = "/usr/lib/postgresql/15/bin"
	mariadbd         = "mariadbd"
	mariadbInstallDB = "mariadb-install-db"
)

// startTimeout bounds a server's start-up (initdb and the first connection).
const startTimeout = 60 * time.Second

// Server is a running private database server.
type Server struct {
	Engine        dbstore.Engine
	Dir           string // temporary directory: data, socket, logs
	Socket        string // PostgreSQL: the socket directory; MariaDB: the socket file
	Host          string // loopback address of the TCP listener
	Port          int
	AdminUser     string // postgres / root
	AdminPassword string

	admin *sql.DB
	proc  *exec.Cmd
	stdin io.WriteCloser // closing it makes the supervisor stop the server
	logs  []string       // the supervisor's output and the server's own log

	mu      sync.Mutex
	stopped bool
	dbSeq   int
}

var (
	sharedMu sync.Mutex
	shared   = map[dbstore.Engine]*sharedServer{}
)

type sharedServer struct {
	once sync.Once
	srv  *Server
	err  error
	miss string // a missing prerequisite, when that is why it failed
}

// Postgres returns the shared PostgreSQL 15 server of this test process.
func Postgres(t testing.TB) *Server {
	t.Helper()
	return sharedOf(t, dbstore.PostgreSQL)
}

// MariaDB returns the shared MariaDB server of this test process.
func MariaDB(t testing.TB) *Server {
	t.Helper()
	return sharedOf(t, dbstore.MySQL)
}

func sharedOf(t testing.TB, engine dbstore.Engine) *Server {
	t.Helper()
	sharedMu.Lock()
	s, ok := shared[engine]
	if !ok {
		s = &sharedServer{}
		shared[engine] = s
	}
	sharedMu.Unlock()
	s.once.Do(func() { s.srv, s.miss, s.err = start(engine) })
	if s.miss != "" {
		harness.Missing(t, "%s; install with: %s", s.miss, harness.InstallHint)
	}
	if s.err != nil {
		t.Fatalf("starting %s: %v", engine, s.err)
	}
	return s.srv
}

// Shutdown stops the shared servers. Call it from TestMain after m.Run.
func Shutdown() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	for _, s := range shared {
		if s.srv != nil {
			s.srv.Stop() //nolint:errcheck // the process is ending; the supervisor cleans up anyway
		}
	}
}

// Start starts a server of the test's own, stopped at its end: for tests
// that stop or break it.
func Start(t testing.TB, engine dbstore.Engine) *Server {
	t.Helper()
	srv, miss, err := start(engine)
	if miss != "" {
		harness.Missing(t, "%s; install with: %s", miss, harness.InstallHint)
	}
	if err != nil {
		t.Fatalf("starting %s: %v", engine, err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stopping %s: %v", engine, err)
		}
	})
	return srv
}

func start(engine dbstore.Engine) (srv *Server, missing string, err error) {
	switch engine {
	case dbstore.PostgreSQL:
		for _, b := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(pgBinDir, b)); err != nil {
				return nil, fmt.Sprintf("PostgreSQL 15 (%s/%s: %v; Debian package postgresql-15)", pgBinDir, b, err), nil
			}
		}
		srv, err = startPostgres()
	case dbstore.MySQL:
		for _, b := range []string{mariadbd, mariadbInstallDB} {
			if _, err := exec.LookPath(b); err != nil {
				return nil, fmt.Sprintf("MariaDB (%s not found: Debian package mariadb-server)", b), nil
			}
		}
		srv, err = startMariaDB()
	default:
		return nil, "", fmt.Errorf("no test server for engine %q", engine)
	}
	return srv, "", err
}

// serviceUser is the account a server runs as: the package's system user
// when we are root, ourselves otherwise.
func serviceUser(name string) (*user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("running as root needs the %s user (created by the server's Debian package): %w", name, err)
	}
	return u, nil
}

// newDir makes the server's directory, owned by the service user.
func newDir(prefix string, u *user.User) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	if u != nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, os.Chmod(dir, 0o755)
}

// asUser prefixes argv so that it runs as u (nil: as ourselves).
func asUser(u *user.User, argv ...string) []string {
	if u == nil {
		return argv
	}
	return append([]string{"setpriv", "--reuid=" + u.Username, "--regid=" + u.Gid, "--init-groups", "--"}, argv...)
}

// freePort finds a loopback port nobody listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// supervise starts argv under a shell that stops it with sig when its
// stdin closes (Stop, or the death of this process) and then removes dir.
func (s *Server) supervise(sig string, argv []string) error {
	script := `"$@" </dev/null & pid=$!
read _ignored
kill -` + sig + ` "$pid" 2>/dev/null
wait "$pid"
rm -rf "$SESSIONFS_DBTEST_DIR"`
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, argv...)...)
	cmd.Env = append(os.Environ(), "SESSIONFS_DBTEST_DIR="+s.Dir)
	logf, err := os.OpenFile(s.logs[0], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C of go test reaches us, and we stop it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.proc, s.stdin = cmd, stdin
	return nil
}

// Stop stops the server, waits for it and removes its directory.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	if s.admin != nil {
		s.admin.Close()
	}
	s.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- s.proc.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s supervisor: %w\n%s", s.Engine, err, s.LogTail())
		}
		return nil
	case <-time.After(30 * time.Second):
		syscall.Kill(-s.proc.Process.Pid, syscall.SIGKILL) //nolint:errcheck
		<-done
		os.RemoveAll(s.Dir)
		return fmt.Errorf("%s did not stop within 30 s; killed", s.Engine)
	}
}

// LogTail is the end of the server's logs, for failure messages.
func (s *Server) LogTail() string {
	var out strings.Builder
	for _, name := range s.logs {
		b, _ := os.ReadFile(name)
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		fmt.Fprintf(&out, "--- %s\n%s", filepath.Base(name), b)
	}
	return out.String()
}

// waitReady connects as the administrator until the server answers.
func (s *Server) waitReady(open func() (*sql.DB, error)) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		if s.proc.ProcessState != nil {
			break
		}
		db, err := open()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err = db.PingContext(ctx)
			cancel()
			if err == nil {
				s.admin = db
				return nil
			}
			db.Close()
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not accept connections: %v\nlog:\n%s", s.Engine, last, s.LogTail())
}

func startPostgres() (*Server, error) {
	u, err := serviceUser("postgres")
	if err != nil {
		return nil, err
	}
	dir, err := newDir("sessionfs-pg-", u)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{Engine: dbstore.PostgreSQL, Dir: dir, Socket: dir, Host: "127.0.0.1", Port: port,
		AdminUser: "postgres", AdminPassword: "admin-" + randomHex(8), logs: []string{filepath.Join(dir, "server.log")}}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.AdminPassword+"\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	initdb := asUser(u, filepath.Join(pgBinDir, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--pwfile="+pwfile,
		"-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions")
	if out, err := exec.Command(initdb[0], initdb[1:]...).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	os.Remove(pwfile)
	// Durability is not under test: fsync off keeps the run fast.
	argv := asUser(u, filepath.Join(pgBinDir, "postgres"), "-D", filepath.Join(dir, "data"), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB", "-c", "max_connections=60", "-c", "log_min_messages=warning")
	if err := s.supervise("INT", argv); err != nil { // SIGINT: fast shutdown
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.waitReady(func() (*sql.DB, error) {
		return sql.Open("pgx", s.pgDSN("postgres", s.AdminUser, s.AdminPassword, true))
	}); err != nil {
		s.Stop() //nolint:errcheck
		return nil, err
	}
	return s, nil
}

func startMariaDB() (*Server, error) {
	u, err := serviceUser("mysql")
	if err != nil {
		return nil, err
	}
	dir, err := newDir("sessionfs-mariadb-", u)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{Engine: dbstore.MySQL, Dir: dir, Socket: filepath.Join(dir, "mysqld.sock"), Host: "127.0.0.1", Port: port,
		AdminUser: "root", AdminPassword: "admin-" + randomHex(8),
		logs: []string{filepath.Join(dir, "supervisor.log"), filepath.Join(dir, "error.log")}}
	data := filepath.Join(dir, "data")
	install := []string{mariadbInstallDB, "--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve"}
	server := []string{mariadbd, "--no-defaults", "--datadir=" + data, "--socket=" + s.Socket,
		"--port=" + strconv.Itoa(port), "--bind-address=127.0.0.1", "--pid-file=" + filepath.Join(dir, "mariadbd.pid"),
		"--log-error=" + filepath.Join(dir, "error.log"), "--tmpdir=" + dir,
		"--skip-log-bin", "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
		"--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--innodb-use-native-aio=0", "--max-connections=60"}
	if u != nil {
		install = append(install, "--user="+u.Username)
		server = append(server, "--user="+u.Username)
	}
	if out, err := exec.Command(install[0], install[1:]...).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mariadb-install-db: %w\n%s", err, out)
	}
	if err := s.supervise("TERM", server); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// root starts without a password; give it one, so that every account
	// of the server needs one.
	var root *sql.DB
	if err := s.waitReady(func() (*sql.DB, error) { return s.mysqlDB("", "root", "", false) }); err != nil {
		s.Stop() //nolint:errcheck
		return nil, err
	}
	root, s.admin = s.admin, nil
	defer root.Close()
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := root.Exec(fmt.Sprintf("ALTER USER 'root'@'%s' IDENTIFIED BY '%s'", host, s.AdminPassword)); err != nil {
			s.Stop() //nolint:errcheck
			return nil, fmt.Errorf("setting root's password: %w", err)
		}
	}
	root.Exec("DROP USER IF EXISTS ''@'localhost'") //nolint:errcheck // anonymous users would shadow ours
	if err := s.waitReady(func() (*sql.DB, error) { return s.mysqlDB("", s.AdminUser, s.AdminPassword, false) }); err != nil {
		s.Stop() //nolint:errcheck
		return nil, err
	}
	return s, nil
}

// pgDSN is a libpq keyword/value string for pgx.
func (s *Server) pgDSN(db, user, password string, socket bool) string {
	host := s.Host
	if socket {
		host = s.Socket
	}
	return fmt.Sprintf("host=%s port=%d dbname=%s user=%s password='%s' sslmode=disable", host, s.Port, db, user, password)
}

func (s *Server) mysqlDB(db, user, password string, tcp bool) (*sql.DB, error) {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.DBName = user, password, db
	c.Net, c.Addr = "unix", s.Socket
	if tcp {
		c.Net, c.Addr = "tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	}
	c.Logger = &mysql.NopLogger{}
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// Admin is a connection pool of the server's administrator.
func (s *Server) Admin() *sql.DB { return s.admin }

// Database is a database of one test, owned by a user of its own.
type Database struct {
	Server   *Server
	Name     string
	User     string
	Password string
}

// NewDatabase creates an empty database and its owner, with a password
// that needs URL escaping; both are dropped at the end of t.
func (s *Server) NewDatabase(t testing.TB) *Database {
	t.Helper()
	s.mu.Lock()
	s.dbSeq++
	n := s.dbSeq
	s.mu.Unlock()
	d := &Database{Server: s, Name: fmt.Sprintf("t%d_%s", n, randomHex(3)), User: fmt.Sprintf("u%d_%s", n, randomHex(3)),
		Password: "pw/" + randomHex(6) + "@:%"}
	var stmts, drops []string
	switch s.Engine {
	case dbstore.PostgreSQL:
		stmts = []string{
			fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, d.User, d.Password),
			fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, d.Name, d.User),
		}
		drops = []string{
			fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, d.Name),
			fmt.Sprintf(`DROP ROLE IF EXISTS %s`, d.User),
		}
	case dbstore.MySQL:
		stmts = []string{fmt.Sprintf("CREATE DATABASE %s CHARACTER SET utf8mb4", d.Name)}
		for _, host := range []string{"%", "localhost"} {
			stmts = append(stmts,
				fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", d.User, host, d.Password),
				fmt.Sprintf("GRANT ALL ON %s.* TO '%s'@'%s'", d.Name, d.User, host))
			drops = append(drops, fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", d.User, host))
		}
		drops = append(drops, fmt.Sprintf("DROP DATABASE IF EXISTS %s", d.Name))
	}
	for _, q := range stmts {
		if _, err := s.admin.Exec(q); err != nil {
			t.Fatalf("%s: %s: %v", s.Engine, q, err)
		}
	}
	t.Cleanup(func() {
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if stopped {
			return
		}
		for _, q := range drops {
			if _, err := s.admin.Exec(q); err != nil {
				t.Errorf("%s: %s: %v", s.Engine, q, err)
			}
		}
	})
	return d
}

// URL is the database's dj-database-url, without the password, over the
// unix socket or TCP.
func (d *Database) URL(socket bool) string {
	scheme := "postgres"
	if d.Server.Engine == dbstore.MySQL {
		scheme = "mysql"
	}
	host := net.JoinHostPort(d.Server.Host, strconv.Itoa(d.Server.Port))
	if socket {
		host = url.PathEscape(d.Server.Socket)
		host = strings.ReplaceAll(host, "/", "%2F")
		if d.Server.Engine == dbstore.PostgreSQL {
			// libpq finds the socket by directory and port.
			return fmt.Sprintf("%s://%s@%s/%s?port=%d&sslmode=disable", scheme, d.User, host, d.Name, d.Server.Port)
		}
	}
	u := fmt.Sprintf("%s://%s@%s/%s", scheme, d.User, host, d.Name)
	if d.Server.Engine == dbstore.PostgreSQL {
		u += "?sslmode=disable"
	}
	return u
}

// URLWithPassword is URL with the password in it, as DATABASE_URL holds it.
func (d *Database) URLWithPassword(socket bool) string {
	u := d.URL(socket)
	at := strings.Index(u, "@")
	return u[:at] + ":" + url.PathEscape(d.Password) + u[at:]
}

// Config is the dbstore configuration of the database, password included.
func (d *Database) Config(t testing.TB, socket bool) dbstore.Config {
	t.Helper()
	cfg, err := dbstore.ParseURL(d.URLWithPassword(socket))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Django is DATABASES["default"] for Django over TCP.
func (d *Database) Django() map[string]any {
	engine := "django.db.backends.postgresql"
	if d.Server.Engine == dbstore.MySQL {
		engine = "django.db.backends.mysql"
	}
	return map[string]any{
		"ENGINE": engine, "NAME": d.Name, "USER": d.User, "PASSWORD": d.Password,
		"HOST": d.Server.Host, "PORT": strconv.Itoa(d.Server.Port),
	}
}

// Open is a connection pool as the database's owner, for tests to look at
// rows the way the server stores them.
func (d *Database) Open(t testing.TB) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	switch d.Server.Engine {
	case dbstore.PostgreSQL:
		db, err = sql.Open("pgx", d.Server.pgDSN(d.Name, d.User, d.Password, true))
	case dbstore.MySQL:
		db, err = d.Server.mysqlDB(d.Name, d.User, d.Password, false)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Exec runs statements as the database's owner.
func (d *Database) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	db := d.Open(t)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
}

// AdminExec runs statements as the server's administrator, inside the
// database (PostgreSQL) or the server (MariaDB).
func (d *Database) AdminExec(t testing.TB, stmts ...string) {
	t.Helper()
	db := d.Server.admin
	if d.Server.Engine == dbstore.PostgreSQL {
		var err error
		db, err = sql.Open("pgx", d.Server.pgDSN(d.Name, d.Server.AdminUser, d.Server.AdminPassword, true))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// djangoDDL is what `manage.py migrate` of django.contrib.sessions creates
// (Django 3.2 to 5.2).
var djangoDDL = map[dbstore.Engine][]string{
	dbstore.PostgreSQL: {
		`CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL)`,
		`CREATE INDEX "django_session_expire_date_a5c62663" ON "django_session" ("expire_date")`,
		`CREATE INDEX "django_session_session_key_c0390e0f_like" ON "django_session" ("session_key" varchar_pattern_ops)`,
	},
	dbstore.MySQL: {
		"CREATE TABLE `django_session` (`session_key` varchar(40) NOT NULL PRIMARY KEY, `session_data` longtext NOT NULL, `expire_date` datetime(6) NOT NULL)",
		"CREATE INDEX `django_session_expire_date_a5c62663` ON `django_session` (`expire_date`)",
	},
}

// CreateSessionTable creates django_session as Django's migration does,
// for tests that need the table without running Django.
func (d *Database) CreateSessionTable(t testing.TB) {
	t.Helper()
	d.Exec(t, djangoDDL[d.Server.Engine]...)
}

// ConfigVia is Config over TCP through proxy p.
func (d *Database) ConfigVia(t testing.TB, p *Proxy) dbstore.Config {
	t.Helper()
	cfg := d.Config(t, false)
	cfg.Host, cfg.Port = p.Host, p.Port
	return cfg
}
