package fusefs

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/audit"
	"github.com/sessionfs/sessionfs/store"
	"github.com/sessionfs/sessionfs/store/filestore"
)

type auditLine struct {
	Op            string          `json:"op"`
	Key           string          `json:"key"`
	NewKey        string          `json:"new_key"`
	UID           uint32          `json:"uid"`
	PID           uint32          `json:"pid"`
	Comm          string          `json:"comm"`
	Before        string          `json:"before"`
	After         string          `json:"after"`
	Reason        string          `json:"reason"`
	AfterContent  json.RawMessage `json:"after_content"`
	BeforeContent json.RawMessage `json:"before_content"`
}

func readAudit(t *testing.T, path string) []auditLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []auditLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l auditLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// TestAuditFromTheMount: every kind of change through the mount is one
// line naming the calling process (here the test itself), with the hashes
// of the backing file before and after.
func TestAuditFromTheMount(t *testing.T) {
	st, dir := opsFixture(t)
	logPath := filepath.Join(t.TempDir(), "audit.jsonl")
	lg, err := audit.Open(logPath, audit.Options{Content: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	mnt := mountReal(t, st, Options{Audit: lg})
	p := func(name string) string { return filepath.Join(mnt, name) }
	backing := func(key string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "sessionid"+key))
		if err != nil {
			return nil
		}
		return b
	}

	newKey := "newsessionaaaaaaaaaaaaaaaaaaaaaa"
	f, err := os.OpenFile(p(newKey+".json"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"a": 1}`)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	created := backing(newKey)
	beforeWrite := backing(keyU7)
	if err := os.WriteFile(p(keyU7+".json"), []byte(`{"_auth_user_id": "7", "b": 2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	afterWrite := backing(keyU7)
	if err := os.WriteFile(p(keyU7+".json"), []byte(`not json`), 0o600); err == nil {
		t.Fatal("invalid content was accepted")
	}
	if err := os.Rename(p(newKey+".json"), p("renamedaaaaaaaaaaaaaaaaaaaaaaaaa.json")); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p(keyU7+".json"), later, later); err != nil {
		t.Fatal(err)
	}
	beforeRm := backing(keyAnon)
	if err := os.Remove(p(keyAnon + ".json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p(".expired/" + keyOld + ".json")); err != nil {
		t.Fatal(err)
	}

	lines := readAudit(t, logPath)
	var ops []string
	for _, l := range lines {
		ops = append(ops, l.Op+" "+l.Key)
		if l.UID != uint32(os.Getuid()) || l.PID != uint32(os.Getpid()) || !strings.HasPrefix("fusefs.test", l.Comm) || l.Comm == "" {
			t.Errorf("caller of %s: uid %d pid %d comm %q; want %d %d fusefs.test", l.Op, l.UID, l.PID, l.Comm, os.Getuid(), os.Getpid())
		}
	}
	want := []string{
		"create " + newKey, "write " + keyU7, "rejected-write " + keyU7, "rename " + newKey,
		"touch " + keyU7, "delete " + keyAnon, "delete " + keyOld,
	}
	if strings.Join(ops, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit ops:\n%s\nwant:\n%s", strings.Join(ops, "\n"), strings.Join(want, "\n"))
	}
	check := func(i int, before, after []byte) {
		t.Helper()
		if lines[i].Before != audit.Hash(before) || lines[i].After != audit.Hash(after) {
			t.Errorf("%s: hashes %q -> %q, want %q -> %q", ops[i], lines[i].Before, lines[i].After, audit.Hash(before), audit.Hash(after))
		}
	}
	check(0, nil, created)
	check(1, beforeWrite, afterWrite)
	check(2, afterWrite, afterWrite)
	check(3, created, created)
	check(5, beforeRm, nil)
	if lines[2].Reason == "" || string(lines[2].AfterContent) != `"not json"` {
		t.Errorf("rejected write: reason %q, content %s", lines[2].Reason, lines[2].AfterContent)
	}
	if lines[3].NewKey != "renamedaaaaaaaaaaaaaaaaaaaaaaaaa" {
		t.Errorf("rename new key: %q", lines[3].NewKey)
	}
	if string(lines[5].BeforeContent) != `{"theme":"dark"}` {
		t.Errorf("delete content: %s", lines[5].BeforeContent)
	}
}

// djangoAfterSave is a store whose every save is followed at once by
// Django writing the session again, before anything else can happen: the
// bytes the save wrote are recorded in wrote.
type djangoAfterSave struct {
	*filestore.FileStore
	django *filestore.FileStore // Django's own writes, to the same directory
	wrote  map[string][]byte
}

func (s *djangoAfterSave) Save(ctx context.Context, key string, js []byte, opt store.SaveOptions) (store.Saved, error) {
	saved, err := s.FileStore.Save(ctx, key, js, opt)
	if err != nil {
		return saved, err
	}
	raw, _, err := s.FileStore.ReadRaw(ctx, key)
	if err != nil {
		return saved, err
	}
	s.wrote[key] = raw
	if _, err := s.django.Save(ctx, key, []byte(`{"_auth_user_id":"7","django":true}`), store.SaveOptions{}); err != nil {
		return saved, err
	}
	return saved, nil
}

// TestAuditRecordsWhatTheSaveWrote: the audit line of a save through the
// mount describes the bytes that save wrote, even when Django rewrites the
// session right after it: Django's change is not logged as the caller's.
func TestAuditRecordsWhatTheSaveWrote(t *testing.T) {
	st, dir := opsFixture(t)
	django, err := filestore.New(st.Config())
	if err != nil {
		t.Fatal(err)
	}
	racy := &djangoAfterSave{FileStore: st, django: django, wrote: map[string][]byte{}}
	logPath := filepath.Join(t.TempDir(), "audit.jsonl")
	lg, err := audit.Open(logPath, audit.Options{Content: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	mnt := mountReal(t, racy, Options{Audit: lg})
	if err := os.WriteFile(filepath.Join(mnt, keyU7+".json"), []byte(`{"_auth_user_id": "7", "mine": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	djangos, err := os.ReadFile(filepath.Join(dir, "sessionid"+keyU7))
	if err != nil {
		t.Fatal(err)
	}
	lines := readAudit(t, logPath)
	if len(lines) != 1 || lines[0].Op != "write" {
		t.Fatalf("audit lines %+v, want one write", lines)
	}
	l := lines[0]
	if l.After != audit.Hash(racy.wrote[keyU7]) || l.After == audit.Hash(djangos) {
		t.Errorf("after hash %s: want the save's %s, not Django's %s", l.After, audit.Hash(racy.wrote[keyU7]), audit.Hash(djangos))
	}
	if string(l.AfterContent) != `{"_auth_user_id":"7","mine":1}` {
		t.Errorf("after content %s, want what the save wrote", l.AfterContent)
	}
}
