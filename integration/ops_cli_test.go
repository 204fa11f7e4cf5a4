package integration

// ls filters and orders, stats and revoke against a directory written by
// real Django 3.2, checked back with Django.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/sessionfs/sessionfs/integration/harness"
)

func lsKeys(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	var keys []string
	for _, r := range jsonLines[opsLsLine](t, opsMust(t, dir, nil, "ls", append([]string{"--json"}, args...)...)) {
		keys = append(keys, r.Key)
	}
	return keys
}

func sorted(keys ...string) []string {
	out := append([]string(nil), keys...)
	sort.Strings(out)
	return out
}

func TestOpsLsFilters(t *testing.T) {
	dir := opsFixture(t)
	all := []string{opsUser42a, opsUser42b, opsUser7, opsAnon, opsFallback8, opsUnknown, opsExpiredMt, opsExpiredAt, opsTruncated}
	tests := []struct {
		args []string
		want []string
	}{
		{nil, all},
		{[]string{"--user", "42"}, []string{opsUser42a, opsUser42b}},
		{[]string{"--user", "8"}, []string{opsFallback8}},
		{[]string{"--user", "11"}, nil}, // its session does not verify: no user is known
		{[]string{"--expired"}, []string{opsExpiredMt, opsExpiredAt}},
		{[]string{"--invalid"}, []string{opsUnknown, opsTruncated}},
		{[]string{"--older-than", "7d"}, []string{opsExpiredMt}},
		{[]string{"--older-than", "1d12h"}, []string{opsExpiredMt}},
		{[]string{"--older-than", "1h"}, []string{opsExpiredMt}},
		{[]string{"--user", "9", "--expired"}, []string{opsExpiredMt}},
		{[]string{"--user", "42", "--expired"}, nil},
	}
	for _, tt := range tests {
		got := sorted(lsKeys(t, dir, tt.args...)...)
		if want := sorted(tt.want...); !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
			t.Errorf("ls %v: %v, want %v", tt.args, got, want)
		}
	}
	// The human table: a header and one row per match.
	table := opsMust(t, dir, nil, "ls", "--user", "42")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "KEY") {
		t.Errorf("ls --user 42 table:\n%s", table)
	}
	for _, bad := range [][]string{{"--sort", "colour"}, {"--older-than", "soon"}, {"--older-than", "-5m"}} {
		if res := opsRun(t, dir, nil, "ls", bad...); res.code != 1 || res.stderr == "" {
			t.Errorf("ls %v: exit %d, stderr %q; want a usage error", bad, res.code, res.stderr)
		}
	}
}

func TestOpsLsSort(t *testing.T) {
	dir := opsFixture(t)
	// Users sort as numbers (7 8 9 10 42), then sessions of no user by key.
	byUser := lsKeys(t, dir, "--sort", "user")
	want := []string{opsUser7, opsFallback8, opsExpiredMt, opsExpiredAt, opsUser42a, opsUser42b}
	want = append(want, sorted(opsAnon, opsTruncated, opsUnknown)...)
	if !reflect.DeepEqual(byUser, want) {
		t.Errorf("--sort user:\n got  %v\n want %v", byUser, want)
	}
	if got := lsKeys(t, dir, "--sort", "key"); !reflect.DeepEqual(got, sorted(got...)) {
		t.Errorf("--sort key: %v", got)
	}
	recs := func(field string) []opsLsLine {
		return jsonLines[opsLsLine](t, opsMust(t, dir, nil, "ls", "--json", "--sort", field))
	}
	mod := recs("modified")
	if mod[0].Key != opsExpiredMt {
		t.Errorf("--sort modified: first %s, want the oldest %s", mod[0].Key, opsExpiredMt)
	}
	for i := 1; i < len(mod); i++ {
		if mod[i].Modified < mod[i-1].Modified {
			t.Errorf("--sort modified: %s before %s", mod[i-1].Modified, mod[i].Modified)
		}
	}
	size := recs("size") // raw sizes: largest first
	if size[0].RawSize == size[len(size)-1].RawSize {
		t.Fatalf("fixture files all of size %d: the order proves nothing", size[0].RawSize)
	}
	for i := 1; i < len(size); i++ {
		if size[i].RawSize > size[i-1].RawSize {
			t.Errorf("--sort size: %d before %d", size[i-1].RawSize, size[i].RawSize)
		}
	}
	exp := recs("expires")
	if exp[0].Key != opsExpiredAt || exp[1].Key != opsExpiredMt {
		t.Errorf("--sort expires: starts %s, %s; want %s (2021) then %s", exp[0].Key, exp[1].Key, opsExpiredAt, opsExpiredMt)
	}
	for i := 1; i < len(exp); i++ {
		a, b := exp[i-1], exp[i]
		if a.Error != "" && b.Error == "" || a.Expires != nil && b.Expires != nil && *b.Expires < *a.Expires {
			t.Errorf("--sort expires: %s (%v) before %s (%v)", a.Key, a.Expires, b.Key, b.Expires)
		}
	}
}

// opsStats is `stats --json`.
type opsStats struct {
	Sessions      int            `json:"sessions"`
	Empty         int            `json:"empty"`
	LoggedInUsers int            `json:"logged_in_users"`
	LoggedIn      int            `json:"logged_in"`
	Expired       int            `json:"expired"`
	Invalid       int            `json:"invalid"`
	TempFiles     int            `json:"temp_files"`
	Bytes         int64          `json:"bytes"`
	Problems      map[string]int `json:"problems"`
	Formats       map[string]int `json:"formats"`
	Serializers   map[string]int `json:"serializers"`
	Keys          map[string]int `json:"keys"`
	Operations    any            `json:"operations"`
}

func TestOpsStats(t *testing.T) {
	dir := opsFixture(t)
	var got opsStats
	if err := json.Unmarshal([]byte(opsMust(t, dir, nil, "stats", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	var bytes int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && !strings.Contains(e.Name(), "_out_") {
			bytes += fi.Size()
		}
	}
	want := opsStats{
		Sessions: 5, LoggedInUsers: 3, LoggedIn: 4, Expired: 2, Invalid: 2, TempFiles: 1, Bytes: bytes,
		Problems:    got.Problems, // checked below: the truncated file's kind is the codec's business
		Formats:     map[string]int{"signed": 5},
		Serializers: map[string]int{"json": 5},
		Keys:        map[string]int{"current": 4, "fallback 1": 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats --json:\n got  %+v\n want %+v", got, want)
	}
	if got.Problems["bad-signature"] < 1 || got.Problems["bad-signature"]+got.Problems["corrupt"] != 2 {
		t.Errorf("problems %v: want the unknown key's bad signature and the truncated file", got.Problems)
	}
	human := opsMust(t, dir, nil, "stats")
	for _, want := range []string{"5 live", "4 sessions of 3 users", "expired       2", "fallback 1 1", "1 live sessions verify only with a fallback key"} {
		if !strings.Contains(human, want) {
			t.Errorf("stats output lacks %q:\n%s", want, human)
		}
	}
}

func TestOpsRevoke(t *testing.T) {
	dj := harness.RequireDjango(t, "3.2")
	dir := opsFixture(t)
	before := snapshotDir(t, dir)
	res := opsRun(t, dir, nil, "revoke", "--user", "42", "--dry-run")
	if res.code != 0 || !reflect.DeepEqual(sorted(strings.Fields(res.stdout)...), sorted(opsUser42a, opsUser42b)) {
		t.Errorf("revoke --dry-run: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	if after := snapshotDir(t, dir); !reflect.DeepEqual(before, after) {
		t.Errorf("revoke --dry-run changed the directory")
	}
	res = opsRun(t, dir, nil, "revoke", "--user", "42")
	if res.code != 0 || !strings.Contains(res.stderr, "removed 2 sessions of user 42") {
		t.Errorf("revoke: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	loads := djangoLoads(t, dj, dir, opsUser42a, opsUser42b, opsUser7, opsAnon)
	for _, key := range []string{opsUser42a, opsUser42b} {
		if loads[key].Existed {
			t.Errorf("%s: Django still finds the revoked session", key)
		}
	}
	for _, key := range []string{opsUser7, opsAnon} {
		if l := loads[key]; !l.Existed || !l.KeyKept || string(l.Data) == "{}" {
			t.Errorf("%s: another user's session was harmed: %+v", key, l)
		}
	}
	// An expired session is revoked too; the unknown-key session's user is unknown.
	if out := opsMust(t, dir, nil, "revoke", "--user", "9"); strings.TrimSpace(out) != opsExpiredMt {
		t.Errorf("revoke --user 9: %q", out)
	}
	if out := opsMust(t, dir, nil, "revoke", "--user", "11"); out != "" {
		t.Errorf("revoke --user 11 removed %q: a session whose signature fails has no known user", out)
	}
	if res := opsRun(t, dir, nil, "revoke"); res.code != 1 {
		t.Errorf("revoke without --user: exit %d, want 1", res.code)
	}
}

// snapshotDir maps each file name of dir to its bytes and mtime.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	snap := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		snap[e.Name()] = fi.ModTime().String() + "\x00" + string(data)
	}
	return snap
}
