package fusefs

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logBuffer collects a mount's log for a test to search (and passes it on
// to the test's log).
type logBuffer struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(string(p))
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

func newLogBuffer(t *testing.T) (*logBuffer, *slog.Logger) {
	l := &logBuffer{t: t}
	return l, slog.New(slog.NewTextHandler(l, nil))
}

// validPadded is a JSON object followed by spaces, n bytes in all: what
// the first part of an oversized `cp` looks like, and valid as it stands.
func validPadded(js string, n int) []byte {
	return []byte(js + strings.Repeat(" ", n-len(js)))
}

// TestFailedWriteNeverCommits: once a write to an open file failed (over
// the size bound, or past the buffer budget), what the file holds is not
// what the caller wrote, even when it is valid JSON: close fails too, every
// close of a dup'ed descriptor as well, and the session is not touched.
// The same for a scratch file renamed onto a session (sed -i, editors).
func TestFailedWriteNeverCommits(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	logs, logger := newLogBuffer(t)
	mnt := mountFake(t, st, Options{MaxSessionSize: 100, Logger: logger})
	path := filepath.Join(mnt, keyA+".json")

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(validPadded(`{"b": 2}`, 98)); err != nil {
		t.Fatalf("write within the bound: %v", err)
	}
	_, err = f.Write([]byte("          "))
	wantErrno(t, "write over the bound", err, syscall.EFBIG)
	dup, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "close of a dup after the failed write", syscall.Close(dup), syscall.EFBIG)
	wantErrno(t, "close after the failed write", f.Close(), syscall.EFBIG)
	if got := st.get(keyA); got != `{"a":1}` {
		t.Errorf("the session was replaced by what a failed write left: %s", got)
	}
	if !strings.Contains(logs.String(), "a write to this open file failed") {
		t.Errorf("no log line says why the save was refused:\n%s", logs)
	}

	// A create whose write failed creates nothing.
	newPath := filepath.Join(mnt, keyB+".json")
	f, err = os.OpenFile(newPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(validPadded(`{"c": 3}`, 98))
	_, err = f.Write(make([]byte, 10))
	wantErrno(t, "write over the bound (create)", err, syscall.EFBIG)
	wantErrno(t, "close (create)", f.Close(), syscall.EFBIG)
	if _, err := os.Stat(newPath); !os.IsNotExist(err) {
		t.Errorf("a failed create left %s: %v", newPath, err)
	}
	if got := st.get(keyB); got != "" {
		t.Errorf("a failed create saved %s", got)
	}

	// A scratch file whose write failed is refused as a session.
	tmp := filepath.Join(mnt, "sedAbc123")
	f, err = os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(validPadded(`{"d": 4}`, 98))
	_, err = f.Write(make([]byte, 10))
	wantErrno(t, "scratch write over the bound", err, syscall.EFBIG)
	f.Close()
	wantErrno(t, "rename of a scratch file whose write failed", os.Rename(tmp, path), syscall.EFBIG)
	if got := st.get(keyA); got != `{"a":1}` {
		t.Errorf("the session was replaced by a scratch file whose write failed: %s", got)
	}
	// Written afresh from nothing, it is an ordinary save again.
	if err := os.WriteFile(tmp, []byte(`{"e": 5}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Errorf("rename after rewriting the scratch file: %v", err)
	}
	if got := st.get(keyA); got != `{"e":5}` {
		t.Errorf("store after the rewritten rename: %s", got)
	}
}

// TestFailedWriteNeverCommitsPastBudget: the same when the write failed
// because the mount's buffer memory is full (ENOMEM).
func TestFailedWriteNeverCommitsPastBudget(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	logs, logger := newLogBuffer(t)
	mnt, root := mountRoot(t, st, Options{MaxBufferMemory: int64(2 * pageSize), Logger: logger}, fakeRender)
	f, err := os.OpenFile(filepath.Join(mnt, keyA+".json"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(validPadded(`{"b": 2}`, 2*pageSize)); err != nil {
		t.Fatalf("write within the budget: %v", err)
	}
	_, err = f.Write([]byte(" "))
	wantErrno(t, "write past the budget", err, syscall.ENOMEM)
	wantErrno(t, "close", f.Close(), syscall.ENOMEM)
	if got := st.get(keyA); got != `{"a":1}` {
		t.Errorf("store: %s", got)
	}
	if !strings.Contains(logs.String(), FlagMaxBufferMemory) {
		t.Errorf("the refusal does not name %s:\n%s", FlagMaxBufferMemory, logs)
	}
	waitBuffers(t, root, 0)
}

// waitBuffers waits for the mount's buffer budget to hold want bytes:
// RELEASE, which gives a handle's bytes back, comes after close returns.
func waitBuffers(t *testing.T, root *rootDir, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for root.buffers.used.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("buffer budget holds %d bytes, want %d", root.buffers.used.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scratchHeld is the memory the scratch entries hold, and what the scratch
// area counts.
func scratchHeld(root *rootDir) (held, counted int64) {
	root.mu.Lock()
	defer root.mu.Unlock()
	for _, e := range root.ns.scratch.byName {
		e.mu.Lock()
		held += e.data.held()
		e.mu.Unlock()
	}
	return held, root.ns.scratch.bytes.Load()
}

// TestScratchTruncateGivesMemoryBack: a scratch file cut short holds no
// more memory than its new length needs, so writing and truncating over
// and over cannot hold more than the budget allows.
func TestScratchTruncateGivesMemoryBack(t *testing.T) {
	st := newFakeStore()
	mnt, root := mountRoot(t, st, Options{ScratchMaxBytes: 1 << 20}, fakeRender)
	big := bytes.Repeat([]byte("x"), 900<<10)
	for i := 0; i < 16; i++ {
		p := filepath.Join(mnt, fmt.Sprintf("scratch%d", i))
		if err := os.WriteFile(p, big, 0o600); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if err := os.Truncate(p, 10); err != nil {
			t.Fatalf("truncate %d: %v", i, err)
		}
	}
	held, counted := scratchHeld(root)
	if max := int64(16 * pageSize); held > max {
		t.Errorf("16 scratch files of 10 bytes hold %d bytes (counted %d), want at most one page each (%d)", held, counted, max)
	}
	if counted != 16*10 {
		t.Errorf("the scratch area counts %d bytes, want 160", counted)
	}
	if used := root.buffers.used.Load(); used != held {
		t.Errorf("the buffer budget holds %d bytes, the scratch files %d", used, held)
	}
	// Shrinking in place, and growing back, shows zeros where the old
	// bytes were (the pages are reused).
	p := filepath.Join(mnt, "scratch0")
	if err := os.Truncate(p, 100); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, p); got != "xxxxxxxxxx"+string(make([]byte, 90)) {
		t.Errorf("grown back: %q", got)
	}
	for i := 0; i < 16; i++ {
		os.Remove(filepath.Join(mnt, fmt.Sprintf("scratch%d", i)))
	}
	if held, counted := scratchHeld(root); held != 0 || counted != 0 || root.buffers.used.Load() != 0 {
		t.Errorf("after removing every scratch file: held %d, counted %d, budget %d", held, counted, root.buffers.used.Load())
	}
}

// TestBufferBudgetWriters: writers past the mount's buffer budget get
// ENOMEM, the ones within it save, and everything is given back at close.
func TestBufferBudgetWriters(t *testing.T) {
	st := newFakeStore()
	const each = 64 << 10
	mnt, root := mountRoot(t, st, Options{MaxBufferMemory: 3 * each}, fakeRender)
	keys := []string{"writer0000", "writer0001", "writer0002", "writer0003"}
	files := make([]*os.File, len(keys))
	for i, key := range keys {
		f, err := os.OpenFile(filepath.Join(mnt, key+".json"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = f
		_, err = f.Write(validPadded(fmt.Sprintf(`{"n": %d}`, i), each))
		if i < 3 && err != nil {
			t.Errorf("writer %d within the budget: %v", i, err)
		}
		if i == 3 {
			wantErrno(t, "writer past the budget", err, syscall.ENOMEM)
		}
	}
	if used := root.buffers.used.Load(); used != 3*each {
		t.Errorf("budget holds %d bytes, want %d", used, 3*each)
	}
	for i, f := range files {
		err := f.Close()
		if i < 3 && err != nil {
			t.Errorf("close %d: %v", i, err)
		}
		if i == 3 {
			wantErrno(t, "close of the refused writer", err, syscall.ENOMEM)
		}
	}
	for i, key := range keys {
		if got, want := st.get(key) != "", i < 3; got != want {
			t.Errorf("%s saved: %v, want %v", key, got, want)
		}
	}
	waitBuffers(t, root, 0)
}

// TestBufferBudgetReaders: readers of one version share one rendering,
// charged once and given back when the last closes; another version gets
// its own; an open past the budget is ENOMEM, and the log names the limit.
func TestBufferBudgetReaders(t *testing.T) {
	st := newFakeStore()
	js := `{"big": "` + strings.Repeat("x", 100<<10) + `"}`
	st.put(keyA, js, time.Now())
	doc, _ := fakeRender([]byte(js))
	one := int64(cap(doc))
	logs, logger := newLogBuffer(t)
	// Room for two renderings, not three.
	mnt, root := mountRoot(t, st, Options{Logger: logger, MaxBufferMemory: 2*one + one/2}, fakeRender)
	path := filepath.Join(mnt, keyA+".json")
	var readers []*os.File
	t.Cleanup(func() {
		for _, f := range readers {
			f.Close()
		}
	})
	for i := 0; i < 20; i++ {
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
		readers = append(readers, f)
	}
	root.renderings.mu.Lock()
	r := root.renderings.byKey[keyA]
	root.renderings.mu.Unlock()
	if r == nil || r.refs != 21 {
		t.Fatal("20 readers of one version and its node: want one rendering of 21 references")
	}
	if used := root.buffers.used.Load(); used != one {
		t.Errorf("20 readers hold %d bytes, want one rendering (%d)", used, one)
	}
	// Django saves a new version: new readers read it, old ones keep theirs.
	st.put(keyA, `{"big": "`+strings.Repeat("y", 100<<10)+`"}`, time.Now())
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	readers = append(readers, f)
	if got := readAll(t, f); !strings.Contains(got, "yyyy") {
		t.Errorf("a reader of the new version read %.40q", got)
	}
	if got := readAll(t, readers[0]); !strings.Contains(got, "xxxx") {
		t.Errorf("a reader of the old version read %.40q", got)
	}
	// A third version does not fit beside the two held.
	st.put(keyA, `{"big": "`+strings.Repeat("z", 100<<10)+`"}`, time.Now())
	_, err = os.Open(path)
	wantErrno(t, "open past the budget", err, syscall.ENOMEM)
	if !strings.Contains(logs.String(), FlagMaxBufferMemory) {
		t.Errorf("the refusal does not name %s:\n%s", FlagMaxBufferMemory, logs)
	}
	for _, r := range readers {
		r.Close()
	}
	readers = nil
	waitBuffers(t, root, 0)
	root.renderings.mu.Lock()
	left := len(root.renderings.byKey)
	root.renderings.mu.Unlock()
	if left != 0 {
		t.Errorf("%d renderings left after every reader closed", left)
	}
}

func readAll(t *testing.T, f *os.File) string {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEmptyingASessionIsRefusedAndLogged: `truncate -s 0 KEY.json` (open
// without O_TRUNC, ftruncate to 0, close) is refused with EINVAL, the
// session unchanged, and the log says why; bash's `>`, which closes a
// descriptor before its first write, stays out of the log.
func TestEmptyingASessionIsRefusedAndLogged(t *testing.T) {
	st := newFakeStore()
	st.put(keyA, `{"a":1}`, time.Now())
	logs, logger := newLogBuffer(t)
	mnt := mountFake(t, st, Options{Logger: logger})
	path := filepath.Join(mnt, keyA+".json")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(0); err != nil {
		t.Fatalf("ftruncate: %v", err)
	}
	wantErrno(t, "close after emptying the session", f.Close(), syscall.EINVAL)
	if got := st.get(keyA); got != `{"a":1}` {
		t.Errorf("store: %s", got)
	}
	if !strings.Contains(logs.String(), "an empty file is not a session") {
		t.Errorf("no log line says why:\n%s", logs)
	}

	logs.Reset()
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	dup, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(dup) // bash's `>`: the first descriptor closes before the write
	if _, err := f.Write([]byte(`{"a": 2}`)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close after writing: %v", err)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("bash's `>` logged a warning:\n%s", logs)
	}
	if got := st.get(keyA); got != `{"a":2}` {
		t.Errorf("store: %s", got)
	}
}

// TestPageBuf: lengths, zeroes past the old length, what is charged for
// each change of mapping, a refused growth that changes nothing, and free.
func TestPageBuf(t *testing.T) {
	var charged int64
	limit := int64(3 * pageSize)
	charge := func(delta int64) syscall.Errno {
		if delta > 0 && charged+delta > limit {
			return syscall.ENOMEM
		}
		charged += delta
		return 0
	}
	var p pageBuf
	if e := p.resize(10, charge); e != 0 || p.len() != 10 || charged != int64(pageSize) || p.held() != charged {
		t.Fatalf("resize(10): %v, len %d, charged %d, held %d", e, p.len(), charged, p.held())
	}
	copy(p.bytes(), "0123456789")
	if e := p.resize(2*pageSize+1, charge); e != 0 || charged != limit || string(p.bytes()[:10]) != "0123456789" {
		t.Fatalf("grow to three pages: %v, charged %d, head %q", e, charged, p.bytes()[:10])
	}
	if e := p.resize(3*pageSize+1, charge); e != syscall.ENOMEM || p.len() != 2*pageSize+1 || charged != limit {
		t.Fatalf("refused growth: %v, len %d, charged %d", e, p.len(), charged)
	}
	if e := p.resize(4, charge); e != 0 || charged != int64(pageSize) || string(p.bytes()) != "0123" {
		t.Fatalf("cut to 4: %v, charged %d, %q", e, charged, p.bytes())
	}
	if e := p.resize(8, charge); e != 0 || string(p.bytes()) != "0123\x00\x00\x00\x00" {
		t.Fatalf("grown back within the page: %v, %q", e, p.bytes())
	}
	p.free(charge)
	if p.len() != 0 || p.held() != 0 || charged != 0 {
		t.Fatalf("after free: len %d, held %d, charged %d", p.len(), p.held(), charged)
	}
}
