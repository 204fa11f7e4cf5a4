package harness

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// djsessionPy is passed to Python with -c, so tests need no file next to the
// test binary and stdin stays free for the request.
//
//go:embed djsession.py
var djsessionPy string

// SystemPython is the interpreter with Debian's Django 3.2; the python3 on
// PATH may be another one without Django.
const SystemPython = "/usr/bin/python3"

// Versions are the Django releases the interop tests run against.
var Versions = []string{"3.2", "4.2", "5.2"}

// Django is one real Django installation.
type Django struct {
	Version    string // major.minor: "3.2", "4.2", "5.2"
	Full       string // what django.get_version() says, e.g. "4.2.30"
	Python     string // interpreter
	PythonPath string // PYTHONPATH that makes this Django importable; "" for the system one

	user *syscall.Credential // set by As: Python runs as this user, with no supplementary groups
}

// As returns this Django running as uid and gid with no supplementary
// groups (what `setpriv --reuid --regid --clear-groups` does), as a site's
// web server user does. The test process must be root.
func (d *Django) As(uid, gid uint32) *Django {
	other := *d
	other.user = &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}
	return &other
}

// Settings are the Django settings a Call configures (settings.configure).
type Settings struct {
	SecretKey       string   `json:"secret_key"`
	Fallbacks       []string `json:"fallbacks,omitempty"`         // SECRET_KEY_FALLBACKS (4.1+; ignored by 3.2)
	SessionFilePath string   `json:"session_file_path,omitempty"` // SESSION_FILE_PATH; "" = tempfile.gettempdir()
	CookieName      string   `json:"cookie_name,omitempty"`       // SESSION_COOKIE_NAME; "" = sessionid
	CookieAge       int      `json:"cookie_age,omitempty"`        // SESSION_COOKIE_AGE seconds; 0 = Django's default
	Serializer      string   `json:"serializer,omitempty"`        // "json" (default) or "pickle" (3.2, 4.2 only)
	// HashingAlgorithm is DEFAULT_HASHING_ALGORITHM (3.1/3.2 only; "" = default
	// sha256). With "sha1", 3.2 writes the legacy format B.
	HashingAlgorithm string `json:"hashing_algorithm,omitempty"`
	// StoreClass, when set, subclasses the file SessionStore under this name,
	// which is how a project changes the salts: format C uses
	// "django.contrib.sessions."+StoreClass, format B "django.contrib.sessions"+StoreClass.
	StoreClass string `json:"store_class,omitempty"`
	// Database, when set, is DATABASES["default"] (ENGINE, NAME, USER,
	// PASSWORD, HOST, PORT, TIME_ZONE, OPTIONS), and the session engine is
	// Django's database backend instead of the file backend.
	Database map[string]any `json:"database,omitempty"`
	// UseTZ is USE_TZ (nil: True). TimeZone is TIME_ZONE ("" = Django's
	// default); it also becomes the process's TZ, as with a settings module.
	UseTZ    *bool  `json:"use_tz,omitempty"`
	TimeZone string `json:"time_zone,omitempty"`
	// SessionModel "user_sessions" serves sessions from a custom session
	// model shaped like django-user-sessions' (table user_sessions_session:
	// an indexed user_id, NOT NULL user_agent and last_activity).
	SessionModel string `json:"session_model,omitempty"`
}

// cacheDir is where install-deps.sh unpacks Django 4.2 and 5.2.
func cacheDir() string {
	if d := os.Getenv("SESSIONFS_DJANGO_CACHE"); d != "" {
		return d
	}
	return "/var/cache/sessionfs/django"
}

type probe struct {
	d   *Django
	err error
}

var (
	probeMu sync.Mutex
	probes  = map[string]probe{} // version -> result, probed once per process
)

// FindDjango locates Django version ("3.2", "4.2", "5.2") and checks that it
// imports and reports that version.
func FindDjango(version string) (*Django, error) {
	probeMu.Lock()
	defer probeMu.Unlock()
	if p, ok := probes[version]; ok {
		return p.d, p.err
	}
	d, err := findDjango(version)
	probes[version] = probe{d, err}
	return d, err
}

func findDjango(version string) (*Django, error) {
	d := &Django{Version: version, Python: SystemPython}
	if version != "3.2" {
		d.PythonPath = filepath.Join(cacheDir(), version, "usr", "lib", "python3", "dist-packages")
		if _, err := os.Stat(d.PythonPath); err != nil {
			return nil, fmt.Errorf("django %s not unpacked: %w", version, err)
		}
	}
	if _, err := os.Stat(d.Python); err != nil {
		return nil, fmt.Errorf("no %s: %w", d.Python, err)
	}
	cmd := exec.Command(d.Python, "-c", "import django; print(django.get_version())")
	cmd.Env = d.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("importing django %s with %s: %w: %s", version, d.Python, err, bytes.TrimSpace(out))
	}
	d.Full = strings.TrimSpace(string(out))
	if !strings.HasPrefix(d.Full, version+".") {
		return nil, fmt.Errorf("%s with PYTHONPATH=%q has Django %s, want %s.x", d.Python, d.PythonPath, d.Full, version)
	}
	return d, nil
}

// RequireDjango returns Django version, or skips t (fails it under CI=true)
// with the install command when it is missing.
func RequireDjango(t testing.TB, version string) *Django {
	t.Helper()
	d, err := FindDjango(version)
	if err != nil {
		Missing(t, "Django %s: %v; install with: %s", version, err, InstallHint)
	}
	return d
}

// env is the environment of a Python run: ours, with PYTHONPATH replaced so
// that exactly this Django is importable.
func (d *Django) env() []string {
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYTHONPATH=") || strings.HasPrefix(kv, "PYTHONHOME=") {
			continue
		}
		env = append(env, kv)
	}
	if d.PythonPath != "" {
		env = append(env, "PYTHONPATH="+d.PythonPath)
	}
	return append(env, "PYTHONIOENCODING=utf-8")
}

// Run runs one batched op of djsession.py with settings s: req is sent as
// JSON on stdin and the JSON answer is decoded into resp (which may be nil).
// It is safe for concurrent use; use it from goroutines, where Call's
// t.Fatalf is not allowed.
func (d *Django) Run(ctx context.Context, s Settings, op string, req, resp any) error {
	in, err := json.Marshal(struct {
		Settings Settings `json:"settings"`
		Op       string   `json:"op"`
		Req      any      `json:"req"`
	}{s, op, req})
	if err != nil {
		return fmt.Errorf("django %s %s: encoding request: %w", d.Version, op, err)
	}
	cmd := exec.CommandContext(ctx, d.Python, "-c", djsessionPy)
	cmd.Env = d.env()
	if d.user != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: d.user}
		cmd.Dir = "/" // the test's directory may be closed to that user
	}
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("django %s %s: %w\nstderr:\n%s", d.Version, op, err, stderr.Bytes())
	}
	var out struct {
		Resp json.RawMessage `json:"resp"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return fmt.Errorf("django %s %s: bad answer %.200q: %w\nstderr:\n%s", d.Version, op, stdout.Bytes(), err, stderr.Bytes())
	}
	if resp == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(out.Resp))
	dec.UseNumber() // session ints are unbounded in Python
	if err := dec.Decode(resp); err != nil {
		return fmt.Errorf("django %s %s: decoding answer into %T: %w", d.Version, op, resp, err)
	}
	return nil
}

// Call is Run that fails t (with Django's stderr) on any error.
func (d *Django) Call(t testing.TB, s Settings, op string, req, resp any) {
	t.Helper()
	if err := d.Run(context.Background(), s, op, req, resp); err != nil {
		t.Fatal(err)
	}
}
