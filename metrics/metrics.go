// Package metrics counts and times the operations of a store.Store
// (InstrumentStore wraps one: counts, errors and latencies by operation),
// keeps session gauges computed by a StatsFunc, and serves both in
// Prometheus's text format. ListenAddr binds an address without a host to
// loopback only.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessionfs/sessionfs/store"
)

// DefaultStatsMaxAge is how long session gauges are reused between scrapes:
// computing them scans the whole session directory.
const DefaultStatsMaxAge = time.Minute

// StatsFunc computes the session figures (store.Store.Stats, or the mount's
// own, which adds operation counters).
type StatsFunc func(ctx context.Context) (store.Stats, error)

// Metrics holds the collectors of one process. Its methods are safe for
// concurrent use; a nil *Metrics records nothing.
type Metrics struct {
	reg     *prometheus.Registry
	ops     *prometheus.CounterVec
	errs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// New registers the operation collectors and, when stats is not nil, the
// session gauges (recomputed at most every maxAge; 0 means
// DefaultStatsMaxAge).
func New(stats StatsFunc, maxAge time.Duration) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionfs_operations_total", Help: "Operations served, by operation.",
		}, []string{"op"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionfs_operation_errors_total", Help: "Operations that failed, by operation.",
		}, []string{"op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sessionfs_operation_duration_seconds", Help: "Time to serve an operation, by operation.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 10), // 50 µs .. 13 s
		}, []string{"op"}),
	}
	m.reg.MustRegister(m.ops, m.errs, m.latency)
	if stats != nil {
		if maxAge <= 0 {
			maxAge = DefaultStatsMaxAge
		}
		m.reg.MustRegister(&sessionCollector{stats: stats, maxAge: maxAge})
	}
	return m
}

// Observe records one operation that started at start and ended now with
// err (nil: success).
func (m *Metrics) Observe(op string, start time.Time, err error) {
	if m == nil {
		return
	}
	m.ops.WithLabelValues(op).Inc()
	m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		m.errs.WithLabelValues(op).Inc()
	}
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ListenAddr makes an address without a host ("9464", ":9464") a loopback
// address: the endpoint is only reachable from elsewhere when asked for.
func ListenAddr(addr string) (string, error) {
	if _, err := net.LookupPort("tcp", addr); err == nil {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("metrics address %q: %w (want HOST:PORT)", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// Serve listens on addr (see ListenAddr) and serves /metrics until ctx
// ends. ready, when not nil, receives the bound address once listening.
func (m *Metrics) Serve(ctx context.Context, addr string, ready func(net.Addr)) error {
	addr, err := ListenAddr(addr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if ready != nil {
		ready(ln.Addr())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	err = srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return fmt.Errorf("metrics: %w", err)
}

// sessionCollector exports store.Stats as gauges, reusing one computation
// for maxAge.
type sessionCollector struct {
	stats  StatsFunc
	maxAge time.Duration

	mu   sync.Mutex
	last store.Stats
	at   time.Time
	err  error
}

var (
	descSessions = prometheus.NewDesc("sessionfs_sessions", "Session files by state: live, expired, invalid.", []string{"state"}, nil)
	descUsers    = prometheus.NewDesc("sessionfs_logged_in_users", "Distinct user ids among live sessions.", nil, nil)
	descTemp     = prometheus.NewDesc("sessionfs_temp_files", "Leftover temp files of interrupted saves.", nil, nil)
	descBytes    = prometheus.NewDesc("sessionfs_session_bytes", "Total size of the session files on disk.", nil, nil)
	descKeys     = prometheus.NewDesc("sessionfs_sessions_by_key", "Live sessions by the key that verifies them (current, fallback N).", []string{"key"}, nil)
	descFormats  = prometheus.NewDesc("sessionfs_sessions_by_format", "Live sessions by format.", []string{"format"}, nil)
	descProblems = prometheus.NewDesc("sessionfs_invalid_sessions", "Invalid session files by problem.", []string{"problem"}, nil)
	descUp       = prometheus.NewDesc("sessionfs_stats_up", "1 if the last computation of the session gauges succeeded.", nil, nil)
)

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descUsers, descTemp, descBytes, descKeys, descFormats, descProblems, descUp} {
		ch <- d
	}
}

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if c.at.IsZero() || time.Since(c.at) >= c.maxAge {
		ctx, cancel := context.WithTimeout(context.Background(), c.maxAge)
		st, err := c.stats(ctx)
		cancel()
		c.at, c.err = time.Now(), err
		if err == nil {
			c.last = st
		}
	}
	st, err := c.last, c.err
	c.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if err != nil {
		gauge(descUp, 0)
		return
	}
	gauge(descUp, 1)
	gauge(descSessions, float64(st.Sessions), "live")
	gauge(descSessions, float64(st.Expired), "expired")
	gauge(descSessions, float64(st.Invalid), "invalid")
	gauge(descUsers, float64(st.LoggedInUsers))
	gauge(descTemp, float64(st.TempFiles))
	gauge(descBytes, float64(st.Bytes))
	for k, n := range st.Keys {
		gauge(descKeys, float64(n), k)
	}
	for f, n := range st.Formats {
		gauge(descFormats, float64(n), f)
	}
	for p, n := range st.Problems {
		gauge(descProblems, float64(n), p)
	}
}
