package agent

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// httpLimits bound the /metrics and /healthz listener: a Prometheus
// scraper and a health checker need a connection or two, so neither idle
// keep-alive connections nor a flood of connections may pin descriptors.
type httpLimits struct {
	readHeader, read, write, idle time.Duration
	maxConns                      int
}

// defaultHTTPLimits: a request is read within 10 s (its header within 5),
// an answer written within 30 (a scrape of a large registry), an idle
// keep-alive connection closed after 30 (Prometheus scrapes every 15-60 s
// and reconnects at no cost), and at most 64 connections at once: more
// wait in the kernel's accept queue until one closes.
var defaultHTTPLimits = httpLimits{readHeader: 5 * time.Second, read: 10 * time.Second, write: 30 * time.Second, idle: 30 * time.Second, maxConns: 64}

// newHTTPServer is the server for h with limits l.
func newHTTPServer(h http.Handler, l httpLimits) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: l.readHeader, ReadTimeout: l.read, WriteTimeout: l.write, IdleTimeout: l.idle,
		MaxHeaderBytes: 16 << 10}
}

// limitListener accepts at most cap(slots) connections at once; Accept
// waits for one to close before taking the next.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), closed: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
