package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/metrics"
	"github.com/sessionfs/sessionfs/store"
)

// runWithMetrics runs a command that starts the metrics and calls body.
func runWithMetrics(t *testing.T, args []string, body func(*metrics.Metrics) error) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app := &cli.App{
		Writer: io.Discard, ErrWriter: io.Discard,
		Commands: []*cli.Command{{
			Name:  "serve",
			Flags: []cli.Flag{metricsFlag()},
			Action: func(c *cli.Context) error {
				m, err := startMetrics(c, func(context.Context) (store.Stats, error) { return store.Stats{Sessions: 3}, nil })
				if err != nil {
					return err
				}
				return body(m)
			},
		}},
	}
	return app.RunContext(ctx, append([]string{"sessionfs", "serve"}, args...))
}

func TestStartMetrics(t *testing.T) {
	// A free loopback port, then served there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = runWithMetrics(t, []string{"--metrics-addr", addr}, func(m *metrics.Metrics) error {
		m.Observe("read", time.Now(), nil)
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, want := range []string{`sessionfs_operations_total{op="read"} 1`, `sessionfs_sessions{state="live"} 3`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %q", want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Off by default.
	if err := runWithMetrics(t, nil, func(m *metrics.Metrics) error {
		if m != nil {
			t.Errorf("metrics started without --metrics-addr")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A port in use is an error at start-up.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := runWithMetrics(t, []string{"--metrics-addr", busy.Addr().String()}, func(*metrics.Metrics) error { return nil }); err == nil {
		t.Errorf("a busy port: no error")
	}
}
