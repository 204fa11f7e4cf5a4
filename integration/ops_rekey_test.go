package integration

// rekey against real Django: sessions signed with a fallback key, in the
// legacy format and pickled are re-signed with the current key as JSON, and
// Django 3.2 and 4.2 (configured without any fallback) read them unchanged.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/integration/harness"
)

const (
	rekeyLegacy  = "legacyformat001"
	rekeyPickled = "pickledsess0001"
	rekeyCurrent = "currentsess0001"
	rekeyTuple   = "tuplesession001"
)

// rekeyFixture writes the sessions rekey has work with, all modified two
// days ago, and returns the directory and each session's content.
func rekeyFixture(t *testing.T) (string, map[string]json.RawMessage) {
	t.Helper()
	dj := harness.RequireDjango(t, "3.2")
	dir := t.TempDir()
	content := map[string]json.RawMessage{
		opsFallback8: loginSession("8", ""),
		rekeyLegacy:  json.RawMessage(`{"cart": [1, 2], "_auth_user_id": "12"}`),
		rekeyPickled: json.RawMessage(`{"a": 1, "name": "Zoë"}`),
		rekeyCurrent: json.RawMessage(`{"theme": "dark"}`),
	}
	save := func(s harness.Settings, key string) {
		var res []harness.SaveResult
		dj.Call(t, s, harness.OpSave, []harness.SaveItem{{Key: key, Data: content[key], MustCreate: true}}, &res)
		if !res[0].OK {
			t.Fatalf("Django save %s: %s", key, res[0].Error)
		}
	}
	current := harness.Settings{SecretKey: opsSecret, SessionFilePath: dir}
	old := current
	old.SecretKey = opsOldSecret
	save(old, opsFallback8)
	legacy := current
	legacy.HashingAlgorithm = "sha1"
	save(legacy, rekeyLegacy)
	pickled := current
	pickled.Serializer = "pickle"
	save(pickled, rekeyPickled)
	save(current, rekeyCurrent)
	opsMust(t, dir, []byte(`{"t": {"$tuple": [1, 2]}}`), "put", "--serializer", "pickle", "--create", rekeyTuple)
	for i, key := range []string{opsFallback8, rekeyLegacy, rekeyPickled, rekeyCurrent, rekeyTuple} {
		setMtime(t, filepath.Join(dir, "sessionid"+key), time.Now().Add(-48*time.Hour-time.Duration(i)*time.Minute).Truncate(time.Second))
	}
	return dir, content
}

func TestOpsRekey(t *testing.T) {
	dir, content := rekeyFixture(t)
	keyUsed := map[string]string{}
	for _, r := range jsonLines[opsLsLine](t, opsMust(t, dir, nil, "ls", "--json")) {
		keyUsed[r.Key] = *r.KeyUsed
	}
	if keyUsed[opsFallback8] != "fallback 1" {
		t.Fatalf("fixture: %s verifies with %q, want fallback 1", opsFallback8, keyUsed[opsFallback8])
	}
	before := snapshotDir(t, dir)

	res := opsRun(t, dir, nil, "rekey", "--dry-run")
	if res.code != 0 {
		t.Fatalf("rekey --dry-run: exit %d: %s", res.code, res.stderr)
	}
	if !reflect.DeepEqual(before, snapshotDir(t, dir)) {
		t.Errorf("rekey --dry-run changed the directory")
	}
	wantOut := map[string]string{
		opsFallback8: "rekeyed\tfallback 1",
		rekeyLegacy:  "rekeyed\tformat legacy",
		rekeyPickled: "rekeyed\tserializer pickle",
		rekeyTuple:   "skipped\tvalues need pickle",
	}
	if got := rekeyOutput(t, res.stdout); !reflect.DeepEqual(got, wantOut) {
		t.Errorf("rekey --dry-run printed %v, want %v", got, wantOut)
	}

	auditLog := filepath.Join(t.TempDir(), "audit.log")
	res = opsRun(t, dir, nil, "rekey", "--audit-log", auditLog)
	if res.code != 0 || !strings.Contains(res.stderr, "rekeyed 3 of 5 sessions to signed/json/sha256: 1 already current, 1 skipped") {
		t.Fatalf("rekey: exit %d, stderr %q", res.code, res.stderr)
	}
	if got := rekeyOutput(t, res.stdout); !reflect.DeepEqual(got, wantOut) {
		t.Errorf("rekey printed %v, want %v", got, wantOut)
	}
	after := snapshotDir(t, dir)
	for _, key := range []string{rekeyCurrent, rekeyTuple} {
		if before["sessionid"+key] != after["sessionid"+key] {
			t.Errorf("%s was touched", key)
		}
	}
	for name, snap := range after {
		mtime := strings.SplitN(snap, "\x00", 2)[0]
		if b := strings.SplitN(before[name], "\x00", 2)[0]; mtime != b {
			t.Errorf("%s: mtime moved from %s to %s", name, b, mtime)
		}
	}
	// Django configured with the current key only, and the JSON serializer,
	// reads every rekeyed session as it was.
	for _, version := range []string{"3.2", "4.2"} {
		dj := harness.RequireDjango(t, version)
		loads := djangoLoads(t, dj, dir, opsFallback8, rekeyLegacy, rekeyPickled, rekeyCurrent)
		for key, l := range loads {
			if !l.OK || !l.KeyKept {
				t.Errorf("Django %s load %s: %+v", version, key, l)
				continue
			}
			sameSession(t, "Django "+version+" load "+key, l.Data, content[key])
		}
	}
	// One audit line per rekeyed session, hashing the bytes before and after.
	records := jsonLines[auditLine](t, readString(t, auditLog))
	if len(records) != 3 {
		t.Fatalf("%d audit records, want 3:\n%v", len(records), records)
	}
	for _, r := range records {
		name := "sessionid" + r.Key
		if r.Op != "rekey" || r.Before != sha256Hex(strings.SplitN(before[name], "\x00", 2)[1]) ||
			r.After != sha256Hex(strings.SplitN(after[name], "\x00", 2)[1]) || r.Reason != strings.TrimPrefix(wantOut[r.Key], "rekeyed\t") {
			t.Errorf("audit record %+v does not match the change of %s", r, r.Key)
		}
	}
	// Nothing is left to do.
	if out := opsMust(t, dir, nil, "rekey"); out != rekeyTuple+"\tskipped\tvalues need pickle\n" {
		t.Errorf("second rekey printed %q", out)
	}
}

// rekeyOutput maps each key rekey printed to the rest of its line.
func rekeyOutput(t *testing.T, stdout string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		key, rest, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("rekey line %q", line)
		}
		out[key] = rest
	}
	return out
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// auditLine is one line of the audit log.
type auditLine struct {
	Time          string          `json:"time"`
	Op            string          `json:"op"`
	Key           string          `json:"key"`
	UID           *int            `json:"uid"`
	PID           int             `json:"pid"`
	Comm          string          `json:"comm"`
	Before        string          `json:"before"`
	After         string          `json:"after"`
	Reason        string          `json:"reason"`
	BeforeContent json.RawMessage `json:"before_content"`
	AfterContent  json.RawMessage `json:"after_content"`
}
