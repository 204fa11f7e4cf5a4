package main

import (
	"sort"
	"testing"
	"time"
)

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90m":   90 * time.Minute,
		"36h":   36 * time.Hour,
		"7d":    7 * 24 * time.Hour,
		"1d12h": 36 * time.Hour,
		"0d30s": 30 * time.Second,
	} {
		got, err := parseAge(in)
		if err != nil || got != want {
			t.Errorf("parseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "xd", "7", "-5m", "1d-1h", "7days", "3w"} {
		if got, err := parseAge(bad); err == nil {
			t.Errorf("parseAge(%q) = %v, want an error", bad, got)
		}
	}
}

func TestCompareUser(t *testing.T) {
	ids := []string{"", "42", "alice", "7", "10", "", "9", "bob"}
	sort.SliceStable(ids, func(i, j int) bool { return compareUser(ids[i], ids[j]) < 0 })
	want := []string{"7", "9", "10", "42", "alice", "bob", "", ""}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("sorted user ids %q, want %q", ids, want)
		}
	}
}
