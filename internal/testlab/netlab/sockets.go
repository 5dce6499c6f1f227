package netlab

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// inNS runs f on an OS thread switched into host i's network namespace, so
// a socket f creates belongs to that host; the socket keeps its namespace
// when used from any other thread afterwards. The thread is switched back
// before it is released; if that fails it is never released, and the Go
// runtime ends it with its goroutine instead of reusing it elsewhere.
func (l *Lab) inNS(i int, f func() error) error {
	l.check(i)
	return inNamespace(l.Namespace(i), f)
}

// inNamespace is inNS for the named namespace (a host's or the switch's).
func inNamespace(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: own namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: namespace %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: setns into %s: %w", ns, err)
			return
		}
		errc <- f()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

// Dialer returns a dial function whose connections leave from host i, for
// a probe under test (checks.Ports.Dial) run in this process.
func (l *Lab) Dialer(i int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := l.inNS(i, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// ListenTCP opens a TCP listener on host i's address and port (0: any),
// closed when the test ends.
func (l *Lab) ListenTCP(i, port int) (net.Listener, error) {
	var ln net.Listener
	err := l.inNS(i, func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(l.Addr(i), strconv.Itoa(port)))
		return err
	})
	if err == nil {
		l.t.Cleanup(func() { ln.Close() })
	}
	return ln, err
}

// DropTCP makes host i's firewall drop (silently, as a DROP rule does)
// every TCP packet to port: a peer's connect then times out. The rule
// lives in the host's namespace and goes with it.
func (l *Lab) DropTCP(i, port int) error {
	l.check(i)
	script := fmt.Sprintf("table inet netlab {\n chain input {\n  type filter hook input priority 0; policy accept;\n  tcp dport %d drop\n }\n}\n", port)
	cmd := l.Exec(i, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in host %d: %w: %s", i, err, out)
	}
	return nil
}
