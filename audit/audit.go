// Package audit writes the audit log of sessionfs: one JSON line for every
// change made to the sessions through the CLI or the mount (who, what, and
// a hash of the backing file before and after). It never sees the secret
// key; session contents are written only when the log was opened with
// Options.Content.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/sessionfs/sessionfs/internal/filekind"
	"golang.org/x/sys/unix"
)

// Op is the kind of change.
type Op string

const (
	OpCreate        Op = "create"         // a new session
	OpWrite         Op = "write"          // an existing session replaced
	OpRename        Op = "rename"         // re-keyed: Key is the old key, NewKey the new one
	OpTouch         Op = "touch"          // mtime changed (mtime-based expiry renewed)
	OpDelete        Op = "delete"         // removed by request (rm)
	OpRejectedWrite Op = "rejected-write" // a write refused (invalid JSON, key taken, conflict...); Reason says why
	OpGC            Op = "gc"             // removed because expired
	OpRevoke        Op = "revoke"         // removed because its user was logged out everywhere
	OpRekey         Op = "rekey"          // re-signed with the current key / another format; content unchanged
)

// Caller is who asked for the change: for the mount, the process FUSE
// names; for the CLI, the CLI itself (Self).
type Caller struct {
	UID  uint32
	PID  uint32
	Comm string // command name, e.g. "vim"; "" when unknown
}

// Self is the calling process itself, as the CLI reports its own changes.
func Self() Caller {
	return Caller{UID: uint32(os.Getuid()), PID: uint32(os.Getpid()), Comm: "sessionfs"}
}

// Record is one change. Before and After are backing file bytes: the log
// keeps only their SHA-256 (and, with Options.Content, the session JSON
// given in BeforeJSON and AfterJSON).
type Record struct {
	Op         Op
	Key        string
	NewKey     string // OpRename only
	Before     []byte // backing file bytes before; nil: there was no file
	After      []byte // backing file bytes after; nil: there is no file
	BeforeJSON []byte // session JSON before, logged only with Options.Content
	AfterJSON  []byte // session JSON after (or, for a rejected write, the JSON refused), logged only with Options.Content
	Reason     string // why (rejected writes; gc, revoke and rekey may say more)
}

// line is the JSON form of a Record: the audit log's stable field set.
type line struct {
	Time          string          `json:"time"` // RFC 3339 with nanoseconds, UTC
	Op            Op              `json:"op"`
	Key           string          `json:"key"`
	NewKey        string          `json:"new_key,omitempty"`
	UID           uint32          `json:"uid"`
	PID           uint32          `json:"pid"`
	Comm          string          `json:"comm"`
	Before        string          `json:"before"` // hex SHA-256 of the backing bytes; "" when absent
	After         string          `json:"after"`
	Reason        string          `json:"reason,omitempty"`
	BeforeContent json.RawMessage `json:"before_content,omitempty"`
	AfterContent  json.RawMessage `json:"after_content,omitempty"`
}

// Options modify Open.
type Options struct {
	Content bool             // also log the session JSON before and after
	Now     func() time.Time // clock; default time.Now
}

// Logger appends records to an audit file. It is safe for concurrent use.
// A nil *Logger logs nothing, so callers need no "is auditing on" checks.
type Logger struct {
	mu   sync.Mutex
	f    *os.File
	opts Options
}

// Open opens the audit file at path for appending, creating it with mode
// 0600. Each record is one write(2) on an O_APPEND descriptor, so lines of
// concurrent sessionfs processes never interleave.
//
// The log names session keys, each as good as a login, and with
// Options.Content holds session contents, so the file must be the process's
// own: a symlink is not followed (O_NOFOLLOW), and a file that is not
// regular, belongs to another user, or that group or others may read or
// write is refused with a message saying how to fix it. Open never changes
// an existing file's mode or owner: another tool may rely on them, and a
// log that was readable by others must be looked at, not silently fixed.
func Open(path string, opts Options) (*Logger, error) {
	// A device is refused before it is opened (opening one can act);
	// the descriptor is checked again below.
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, openError(path, nil)
	}
	fd, err := openAppend(path)
	if err != nil {
		return nil, openError(path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if err := private(f, path); err != nil {
		f.Close()
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Logger{f: f, opts: opts}, nil
}

// openAppend opens path for appending, creating it 0600, without following
// a final symlink and without blocking on a fifo.
func openAppend(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|
			unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0o600)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// openError explains why path could not be opened (err, nil when it was not
// tried): for a symlink, a fifo or a socket the errno alone (ELOOP, ENXIO)
// would not say.
func openError(path string, err error) error {
	if fi, lerr := os.Lstat(path); lerr == nil && !fi.Mode().IsRegular() {
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("audit log %s is a symlink, which is never followed: give the path of the file itself", path)
		}
		return fmt.Errorf("audit log %s is not a regular file (%s)", path, filekind.Name(fi.Mode()))
	}
	if err == nil {
		err = unix.EINVAL // replaced by a regular file since: a race, not a state
	}
	return fmt.Errorf("opening audit log: %w", &os.PathError{Op: "open", Path: path, Err: err})
}

// private checks the open file: regular, the process's own, and closed to
// group and others.
func private(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("opening audit log: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("audit log %s is not a regular file (%s)", path, filekind.Name(fi.Mode()))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("opening audit log %s: no owner in its stat", path)
	}
	if euid := uint32(os.Geteuid()); st.Uid != euid {
		return fmt.Errorf("audit log %s belongs to uid %d, not to this process's user (uid %d): "+
			"its owner could read the session keys logged; use a file of this user's (chown %d %s)", path, st.Uid, euid, euid, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("audit log %s is open to group or others (mode %04o): it names session keys, each as good as a login; "+
			"chmod 600 %s", path, perm, path)
	}
	return nil
}

// Content reports whether session contents are logged, so that callers can
// skip decoding them otherwise.
func (l *Logger) Content() bool { return l != nil && l.opts.Content }

// Log appends one record made on behalf of c.
func (l *Logger) Log(c Caller, r Record) error {
	if l == nil {
		return nil
	}
	ln := line{
		Time: l.opts.Now().UTC().Format(time.RFC3339Nano), Op: r.Op, Key: r.Key, NewKey: r.NewKey,
		UID: c.UID, PID: c.PID, Comm: c.Comm,
		Before: Hash(r.Before), After: Hash(r.After), Reason: r.Reason,
	}
	if l.opts.Content {
		ln.BeforeContent = jsonOrString(r.BeforeJSON)
		ln.AfterContent = jsonOrString(r.AfterJSON)
	}
	b, err := json.Marshal(ln)
	if err != nil {
		return fmt.Errorf("audit log: encoding record: %w", err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("audit log: closed")
	}
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// Close closes the file; later Log calls fail.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Hash is the hex SHA-256 of backing file bytes, "" for nil (no file). An
// empty file (Django's placeholder) has the hash of zero bytes.
func Hash(b []byte) string {
	if b == nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// jsonOrString embeds valid JSON as is; anything else (a refused write may
// not be JSON at all) as a JSON string, so that every line stays valid JSON.
func jsonOrString(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}
