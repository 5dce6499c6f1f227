package agent

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveLimited runs a server with limits l on a loopback port.
func serveLimited(t *testing.T, l httpLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }), l)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(newLimitListener(ln, l.maxConns))
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// request sends one keep-alive GET on c and reads the answer.
func request(c net.Conn) error {
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// closedByServer waits up to d for the server to close c.
func closedByServer(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || (err != nil && strings.Contains(err.Error(), "reset"))
}

// Finding 6: /healthz and /metrics kept idle keep-alive connections forever
// (2,000 held connections = 2,000 descriptors). An idle connection, and
// one that never sends a request, are closed after their timeouts.
func TestHTTPIdleConnectionsClosed(t *testing.T) {
	l := httpLimits{readHeader: 300 * time.Millisecond, read: time.Second, write: time.Second, idle: 300 * time.Millisecond, maxConns: 8}
	addr := serveLimited(t, l)
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := request(idle); err != nil {
		t.Fatal(err)
	}
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if !closedByServer(idle, 5*time.Second) {
		t.Error("an idle keep-alive connection is still open 5 s after a 300 ms idle timeout")
	}
	if !closedByServer(silent, 5*time.Second) {
		t.Error("a connection that never sent a request is still open 5 s after a 300 ms header timeout")
	}
	if defaultHTTPLimits.idle <= 0 || defaultHTTPLimits.readHeader <= 0 || defaultHTTPLimits.read <= 0 || defaultHTTPLimits.write <= 0 || defaultHTTPLimits.maxConns <= 0 {
		t.Errorf("the agent's limits %+v leave something unbounded", defaultHTTPLimits)
	}
}

// Beyond the connection limit a connection waits (in the kernel's accept
// queue) until one of the others closes, then is served.
func TestHTTPConnectionLimit(t *testing.T) {
	l := httpLimits{readHeader: 10 * time.Second, read: 10 * time.Second, write: 10 * time.Second, idle: 10 * time.Second, maxConns: 4}
	addr := serveLimited(t, l)
	var held []net.Conn
	for range l.maxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := request(c); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	answered := make(chan error, 1)
	go func() { answered <- request(extra) }()
	select {
	case err := <-answered:
		t.Fatalf("a connection beyond the limit of %d was served at once (%v)", l.maxConns, err)
	case <-time.After(500 * time.Millisecond):
	}
	held[0].Close()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting connection was not served after a slot freed")
	}
}
