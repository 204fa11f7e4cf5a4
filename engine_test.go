package main

import (
	"strings"
	"testing"
)

func TestParseEngine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kind  engineKind
		table string
	}{
		{"", engineFile, ""},
		{"file", engineFile, ""},
		{"django.contrib.sessions.backends.file", engineFile, ""},
		{"db", engineDB, ""},
		{" django.contrib.sessions.backends.db ", engineDB, ""},
		{"user_sessions.backends.db", engineDB, "user_sessions_session"},
		{"qsessions.backends.db", engineDB, "qsessions_session"},
		{"cache", engineCache, ""},
		{"django.contrib.sessions.backends.cache", engineCache, ""},
		{"django.contrib.sessions.backends.cached_db", engineCachedDB, ""},
		{"qsessions.backends.cached_db", engineCachedDB, "qsessions_session"},
	} {
		e, err := parseEngine(tc.name)
		if err != nil || e.Kind != tc.kind || e.Table != tc.table {
			t.Errorf("parseEngine(%q) = %+v, %v; want %v table %q", tc.name, e, err, tc.kind, tc.table)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"django.contrib.sessions.backends.signed_cookies", "browsers' cookies"},
		{"mysite.sessions", "django.contrib.sessions.backends.db"},
		{"File", "is not one sessionfs serves"},
	} {
		_, err := parseEngine(tc.name)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), strings.TrimSpace(tc.name)) {
			t.Errorf("parseEngine(%q) error %v; want one naming it and saying %q", tc.name, err, tc.want)
		}
	}
}
