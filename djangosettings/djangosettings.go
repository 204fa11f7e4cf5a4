// Package djangosettings reads a Django site's session settings by running
// the site's own Python: the operator then needs no other configuration.
//
// The secret key (and a database password) travels only over a pipe from the Python process (file
// descriptor 3, so that a settings module printing on stdout cannot garble
// it); it is never in argv, in the environment of another process, or in an
// error message.
package djangosettings

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

//go:embed read_settings.py
var readSettingsPy string

// Settings are the values sessionfs needs, as the site's Django sees them.
type Settings struct {
	DjangoVersion    string
	SecretKey        []byte   // SECRET_KEY as Django signs with it (UTF-8 of a str key)
	FallbackKeys     [][]byte // SECRET_KEY_FALLBACKS (Django 4.1+; empty before)
	SessionEngine    string   // SESSION_ENGINE
	FileBackend      bool     // the engine's SessionStore is (a subclass of) the file backend's
	SessionFilePath  string   // SESSION_FILE_PATH; "" when None (Django: the temp dir)
	CookieName       string   // SESSION_COOKIE_NAME
	CookieAge        int64    // SESSION_COOKIE_AGE in seconds
	Serializer       string   // SESSION_SERIALIZER, a dotted class path
	HashingAlgorithm string   // DEFAULT_HASHING_ALGORITHM (Django 3.1/3.2 only); "" otherwise
	KeySalt          string   // "django.contrib.sessions." + the store class's name; "" when EngineError
	EngineError      string   // why the engine's class could not be imported, if it could not
	// Backend is the Django backend the engine's SessionStore is (a
	// subclass of): "file", "db", "cached_db" or "cache"; "" when unknown.
	Backend      string
	SessionTable string    // the session model's db_table (db and cached_db)
	UseTZ        bool      // USE_TZ
	TimeZone     string    // TIME_ZONE
	Database     *Database // the session model's write database (db and cached_db); nil otherwise
}

// Database is the DATABASES entry the router writes the session model to
// (router.db_for_write, "default" without routers), as Django's connection
// sees it.
type Database struct {
	Alias    string
	Engine   string // ENGINE: django.db.backends.sqlite3, .postgresql, .mysql, ...
	Name     string
	Host     string
	Port     string
	User     string
	Password []byte         // PASSWORD; travels as the secret key does
	Options  map[string]any // OPTIONS, plain values only (strings, numbers, booleans, dicts of them)
	TimeZone string         // the database's own TIME_ZONE; "" when None
}

// GoString keeps the password out of %#v.
func (d Database) GoString() string {
	return fmt.Sprintf("djangosettings.Database{Alias:%q, Engine:%q, Name:%q, Host:%q, Port:%q, User:%q, Options:%v, TimeZone:%q}",
		d.Alias, d.Engine, d.Name, d.Host, d.Port, d.User, d.Options, d.TimeZone)
}

// String keeps the password out of %v and %s.
func (d Database) String() string { return d.GoString() }

type databaseAnswer struct {
	Alias    string         `json:"alias"`
	Engine   string         `json:"engine"`
	Name     string         `json:"name"`
	Host     string         `json:"host"`
	Port     string         `json:"port"`
	User     string         `json:"user"`
	Password string         `json:"password"` // base64
	Options  map[string]any `json:"options"`
	TimeZone *string        `json:"time_zone"`
}

// Options say how to run Python.
type Options struct {
	Module  string        // DJANGO_SETTINGS_MODULE; required
	Python  string        // interpreter; default "python3"
	Project string        // directory put first on sys.path (the one holding manage.py); default: the working directory
	Timeout time.Duration // default 60 s: importing settings may be slow, never endless
	Env     []string      // environment of the Python process; default os.Environ()
}

// answer is the JSON the Python snippet writes.
type answer struct {
	DjangoVersion    string          `json:"django_version"`
	SecretKey        string          `json:"secret_key"` // base64
	Fallbacks        []string        `json:"secret_key_fallbacks"`
	SessionEngine    string          `json:"session_engine"`
	SessionFilePath  *string         `json:"session_file_path"`
	CookieName       string          `json:"session_cookie_name"`
	CookieAge        int64           `json:"session_cookie_age"`
	Serializer       string          `json:"session_serializer"`
	HashingAlgorithm *string         `json:"default_hashing_algorithm"`
	FileBackend      *bool           `json:"file_backend"`
	KeySalt          *string         `json:"key_salt"`
	EngineError      *string         `json:"engine_error"`
	Backend          *string         `json:"backend"`
	SessionTable     *string         `json:"session_table"`
	UseTZ            bool            `json:"use_tz"`
	TimeZone         *string         `json:"time_zone"`
	Database         *databaseAnswer `json:"database"`
}

// maxAnswer bounds what is read from the Python process; maxStderr, what is
// kept of its stderr (only the end is shown).
const (
	maxAnswer = 1 << 20
	maxStderr = 64 << 10
)

// Read runs the site's Python and returns its settings.
func Read(ctx context.Context, opt Options) (*Settings, error) {
	if opt.Module == "" {
		return nil, errors.New("reading Django settings: no settings module")
	}
	if opt.Python == "" {
		opt.Python = "python3"
	}
	if opt.Timeout == 0 {
		opt.Timeout = 60 * time.Second
	}
	if opt.Project == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("reading Django settings: %w", err)
		}
		opt.Project = wd
	}
	if opt.Env == nil {
		opt.Env = os.Environ()
	}
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()

	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("reading Django settings: %w", err)
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, opt.Python, "-c", readSettingsPy)
	cmd.Env = append(withoutVars(opt.Env, "DJANGO_SETTINGS_MODULE", "SESSIONFS_DJANGO_PROJECT"),
		"DJANGO_SETTINGS_MODULE="+opt.Module, "SESSIONFS_DJANGO_PROJECT="+opt.Project)
	cmd.Dir = opt.Project
	cmd.ExtraFiles = []*os.File{w} // fd 3 in the child
	// A process the settings module started may hold stderr open after
	// Python is killed: Wait gives up on it.
	cmd.WaitDelay = time.Second
	stderr := &tail{max: maxStderr}
	cmd.Stdout = io.Discard
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("reading Django settings: running %s: %w", opt.Python, err)
	}
	w.Close() // the child holds its copy; EOF comes when it exits
	out, readErr := io.ReadAll(io.LimitReader(r, maxAnswer+1))
	if len(out) > maxAnswer {
		// It may be blocked writing the rest: never wait for the timeout.
		r.Close()
		cancel()
		cmd.Wait()
		return nil, fmt.Errorf("reading Django settings %s with %s: answer over %d bytes", opt.Module, opt.Python, maxAnswer)
	}
	waitErr := cmd.Wait()
	if waitErr != nil {
		// Only the exception line: a traceback quotes source lines, and a
		// settings module may hold the key inline.
		return nil, fmt.Errorf("reading Django settings %s with %s: %w%s (the traceback: %s -c 'import %s')",
			opt.Module, opt.Python, waitErr, lastLines(stderr.String(), 1), opt.Python, opt.Module)
	}
	if readErr != nil {
		return nil, fmt.Errorf("reading Django settings: %w", readErr)
	}
	if len(out) > maxAnswer {
		return nil, errors.New("reading Django settings: answer too large")
	}
	return parse(out)
}

func parse(out []byte) (*Settings, error) {
	var a answer
	if err := json.Unmarshal(out, &a); err != nil {
		// Never quote the answer: it holds the secret key.
		return nil, fmt.Errorf("reading Django settings: malformed answer from Python (%d bytes): %w", len(out), errors.Unwrap(err))
	}
	secret, err := base64.StdEncoding.DecodeString(a.SecretKey)
	if err != nil {
		return nil, errors.New("reading Django settings: malformed SECRET_KEY encoding")
	}
	s := &Settings{
		DjangoVersion: a.DjangoVersion, SecretKey: secret, SessionEngine: a.SessionEngine,
		CookieName: a.CookieName, CookieAge: a.CookieAge, Serializer: a.Serializer,
	}
	for i, f := range a.Fallbacks {
		k, err := base64.StdEncoding.DecodeString(f)
		if err != nil {
			return nil, fmt.Errorf("reading Django settings: malformed SECRET_KEY_FALLBACKS[%d] encoding", i)
		}
		s.FallbackKeys = append(s.FallbackKeys, k)
	}
	if a.SessionFilePath != nil {
		s.SessionFilePath = *a.SessionFilePath
	}
	if a.HashingAlgorithm != nil {
		s.HashingAlgorithm = *a.HashingAlgorithm
	}
	if a.FileBackend != nil {
		s.FileBackend = *a.FileBackend
	}
	if a.KeySalt != nil {
		s.KeySalt = *a.KeySalt
	}
	if a.EngineError != nil {
		s.EngineError = *a.EngineError
	}
	if a.Backend != nil {
		s.Backend = *a.Backend
	}
	if a.SessionTable != nil {
		s.SessionTable = *a.SessionTable
	}
	s.UseTZ = a.UseTZ
	if a.TimeZone != nil {
		s.TimeZone = *a.TimeZone
	}
	if d := a.Database; d != nil {
		pw, err := base64.StdEncoding.DecodeString(d.Password)
		if err != nil {
			return nil, errors.New("reading Django settings: malformed database PASSWORD encoding")
		}
		s.Database = &Database{Alias: d.Alias, Engine: d.Engine, Name: d.Name, Host: d.Host, Port: d.Port,
			User: d.User, Password: pw, Options: d.Options}
		if d.TimeZone != nil {
			s.Database.TimeZone = *d.TimeZone
		}
	}
	return s, nil
}

// withoutVars drops the named variables from env.
func withoutVars(env []string, names ...string) []string {
	out := make([]string, 0, len(env))
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// tail keeps the last max bytes written to it (at most twice that in
// memory), so a process writing without end costs a bounded buffer.
type tail struct {
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if len(t.b)+len(p) > 2*t.max {
		keep := max(t.max-len(p), 0)
		t.b = append(t.b[:0], t.b[len(t.b)-keep:]...)
	}
	t.b = append(t.b, p...)
	return n, nil
}

func (t *tail) String() string {
	if len(t.b) > t.max {
		return string(t.b[len(t.b)-t.max:])
	}
	return string(t.b)
}

// lastLines is the end of Python's stderr (the exception), for the error.
func lastLines(s string, n int) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return ":\n" + strings.Join(lines, "\n")
}
