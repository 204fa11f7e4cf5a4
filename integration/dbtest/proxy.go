package dbtest

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Proxy forwards loopback TCP connections to a server and can make the
// server look gone (Cut) or hung (Stall) without touching it.
type Proxy struct {
	Host string
	Port int

	target string
	l      net.Listener

	mu    sync.Mutex
	cond  *sync.Cond
	mode  proxyMode
	conns map[net.Conn]struct{}
}

type proxyMode int

const (
	forwarding proxyMode = iota
	cut                  // connections are closed, new ones closed at once
	stalled              // no byte passes; nothing is closed
)

// NewProxy listens on a free loopback port and forwards to the server's
// TCP listener. It closes at the end of t.
func (s *Server) NewProxy(t testing.TB) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, l: l,
		target: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	t.Cleanup(func() {
		l.Close()
		p.Cut()
	})
	return p
}

func (p *Proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *Proxy) handle(client net.Conn) {
	if !p.track(client) {
		client.Close()
		return
	}
	if !p.wait() {
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(server) {
		client.Close()
		if server != nil {
			server.Close()
		}
		return
	}
	go p.pipe(server, client)
	p.pipe(client, server)
}

// track registers c, or reports false once the proxy cuts.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// wait blocks while stalled; false means cut.
func (p *Proxy) wait() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == stalled {
		p.cond.Wait()
	}
	return p.mode == forwarding
}

func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait() {
				break
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			if err == io.EOF {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite() //nolint:errcheck
					return
				}
			}
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Cut closes every connection and closes new ones at once: the server is
// gone.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.mode = cut
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Stall passes no more bytes either way and leaves every connection open:
// the server hangs.
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.mode = stalled
	p.mu.Unlock()
}

// Restore forwards again: stalled bytes flow, new connections reach the
// server.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.mode = forwarding
	p.cond.Broadcast()
	p.mu.Unlock()
}
