package integration

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMountMetrics: with --metrics-addr the mount serves Prometheus metrics on
// loopback, counting the store operations its files cause and gauging the
// sessions of the backing directory.
func TestMountMetrics(t *testing.T) {
	m, dj := mountWithDjango(t, "--metrics-addr", "127.0.0.1:0")
	key := djangoCreate(t, m, dj, `{"_auth_user_id": "7", "theme": "dark"}`)[0]
	addr := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/metrics`).FindStringSubmatch(m.Stderr())
	if addr == nil {
		t.Fatalf("the mount's log names no metrics address:\n%s", m.Stderr())
	}
	if _, err := os.ReadFile(m.File(key)); err != nil {
		t.Fatal(err)
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^sessionfs_operations_total\{op="load"\} [1-9]`),
		regexp.MustCompile(`(?m)^sessionfs_operation_duration_seconds_count\{op="load"\} [1-9]`),
		regexp.MustCompile(`(?m)^sessionfs_sessions\{state="live"\} 1$`),
		regexp.MustCompile(`(?m)^sessionfs_logged_in_users 1$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(text, "sessionfs_"))
		}
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
