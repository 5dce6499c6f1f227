package checks

import (
	"net"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab/ntpserver"
)

// startFakeNTP serves until the test ends and returns "127.0.0.1:port".
func startFakeNTP(t *testing.T, skew time.Duration, stratum byte) string {
	t.Helper()
	s, err := ntpserver.Listen("127.0.0.1:0", skew, stratum)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addr()
}

// closedUDPPort returns a loopback address nobody listens on: the kernel
// answers with ICMP port unreachable, so queries fail fast.
func closedUDPPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	return addr
}

// listenSilentUDP returns a loopback address whose socket receives queries
// and never answers, so only the timeout or the context can end a query.
func listenSilentUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().String()
}
