package main

// --metrics-addr: the Prometheus endpoint of a long-running command (the
// mount). Off unless given; an address without a host binds to loopback.

import (
	"context"
	"errors"
	"log/slog"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/sessionfs/sessionfs/metrics"
)

const flagMetricsAddr = "metrics-addr"

func metricsFlag() cli.Flag {
	return &cli.StringFlag{Name: flagMetricsAddr, EnvVars: []string{"SESSIONFS_METRICS_ADDR"},
		Usage: "serve Prometheus metrics at http://`HOST:PORT`/metrics (\":9464\" binds to 127.0.0.1; give 0.0.0.0:9464 to expose it)"}
}

// startMetrics serves the metrics in the background until c.Context ends,
// when --metrics-addr is given, and returns them (nil, which records
// nothing, otherwise). The listener is bound before it returns, so a busy
// port is an error at start-up, not a log line later.
func startMetrics(c *cli.Context, stats metrics.StatsFunc) (*metrics.Metrics, error) {
	addr := c.String(flagMetricsAddr)
	if addr == "" {
		return nil, nil
	}
	m := metrics.New(stats, 0)
	ready := make(chan net.Addr, 1)
	failed := make(chan error, 1)
	go func() {
		if err := m.Serve(c.Context, addr, func(a net.Addr) { ready <- a }); err != nil {
			failed <- err
		}
	}()
	select {
	case a := <-ready:
		slog.Info("serving metrics", "addr", "http://"+a.String()+"/metrics")
		return m, nil
	case err := <-failed:
		return nil, err
	case <-c.Context.Done():
		return nil, errors.Join(context.Cause(c.Context), c.Context.Err())
	}
}
