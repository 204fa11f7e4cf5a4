package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionfs/sessionfs/store"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: HTTP %d", rec.Code)
	}
	return rec.Body.String()
}

func TestOperationsAndSessionGauges(t *testing.T) {
	var computed atomic.Int32
	stats := func(context.Context) (store.Stats, error) {
		computed.Add(1)
		return store.Stats{
			Sessions: 7, Expired: 2, Invalid: 1, LoggedInUsers: 3, TempFiles: 4, Bytes: 1234,
			Keys: map[string]int{"current": 5, "fallback 1": 2}, Formats: map[string]int{"signed": 7},
			Problems: map[string]int{"bad-signature": 1},
		}, nil
	}
	m := New(stats, time.Hour)
	start := time.Now().Add(-3 * time.Millisecond)
	m.Observe("write", start, nil)
	m.Observe("write", start, errors.New("EINVAL"))
	m.Observe("read", start, nil)
	out := scrape(t, m.Handler())
	for _, want := range []string{
		`sessionfs_operations_total{op="write"} 2`,
		`sessionfs_operations_total{op="read"} 1`,
		`sessionfs_operation_errors_total{op="write"} 1`,
		`sessionfs_operation_duration_seconds_count{op="write"} 2`,
		`sessionfs_sessions{state="live"} 7`,
		`sessionfs_sessions{state="expired"} 2`,
		`sessionfs_sessions{state="invalid"} 1`,
		`sessionfs_logged_in_users 3`,
		`sessionfs_temp_files 4`,
		`sessionfs_session_bytes 1234`,
		`sessionfs_sessions_by_key{key="fallback 1"} 2`,
		`sessionfs_sessions_by_format{format="signed"} 7`,
		`sessionfs_invalid_sessions{problem="bad-signature"} 1`,
		`sessionfs_stats_up 1`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(out, `errors_total{op="read"}`) {
		t.Errorf("an error counted for read, which succeeded")
	}
	scrape(t, m.Handler())
	if n := computed.Load(); n != 1 {
		t.Errorf("stats computed %d times for two scrapes within maxAge, want 1", n)
	}
}

func TestStatsFailureIsReported(t *testing.T) {
	m := New(func(context.Context) (store.Stats, error) { return store.Stats{}, errors.New("scan failed") }, time.Hour)
	out := scrape(t, m.Handler())
	if !strings.Contains(out, "sessionfs_stats_up 0\n") || strings.Contains(out, "sessionfs_sessions{") {
		t.Errorf("failed stats: %s", out)
	}
}

func TestNilMetricsRecordsNothing(t *testing.T) {
	var m *Metrics
	m.Observe("write", time.Now(), nil) // must not panic
}

func TestListenAddrDefaultsToLoopback(t *testing.T) {
	for in, want := range map[string]string{
		"9464":         "127.0.0.1:9464",
		":9464":        "127.0.0.1:9464",
		"0.0.0.0:9464": "0.0.0.0:9464",
		"[::1]:9464":   "[::1]:9464",
		"host:9464":    "host:9464",
	} {
		got, err := ListenAddr(in)
		if err != nil || got != want {
			t.Errorf("ListenAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ListenAddr("no port"); err == nil {
		t.Errorf("ListenAddr without a port: no error")
	}
}

func TestServe(t *testing.T) {
	m := New(nil, 0)
	m.Observe("read", time.Now(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ":0", func(a net.Addr) { addrs <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	if ip := addr.(*net.TCPAddr).IP; !ip.IsLoopback() {
		t.Errorf("bound to %v, want loopback", addr)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `sessionfs_operations_total{op="read"} 1`) {
		t.Errorf("served metrics lack the read: %s", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
}
