package mesh

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Packets that arrive before the gate opens are held, not lost, and
// delivered once it opens; a transport shut down with the gate closed and
// a listener blocked handing a packet over still shuts down.
func TestGatedTransportHoldsUntilOpen(t *testing.T) {
	ml := memberlist.DefaultLANConfig()
	ml.BindAddr, ml.BindPort = "127.0.0.1", 0
	tr, err := newGatedTransport(ml)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown()
	if ml.Transport != tr || ml.BindPort == 0 || ml.AdvertisePort != ml.BindPort {
		t.Fatalf("transport not set or port not picked: %v %d %d", ml.Transport == tr, ml.BindPort, ml.AdvertisePort)
	}
	c, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ml.BindPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("early")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-tr.PacketCh():
		t.Fatalf("a packet %q delivered before the gate opened", p.Buf)
	case <-time.After(200 * time.Millisecond):
	}
	tr.openGate()
	select {
	case p := <-tr.PacketCh():
		if string(p.Buf) != "early" {
			t.Fatalf("got %q", p.Buf)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held packet never came after the gate opened")
	}

	closed := memberlist.DefaultLANConfig()
	closed.BindAddr, closed.BindPort = "127.0.0.1", 0
	tr2, err := newGatedTransport(closed)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(closed.BindPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, _ = c2.Write([]byte("held at shutdown"))
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- tr2.Shutdown() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown hung with the gate closed")
	}
	if err := tr2.Shutdown(); err != nil { // twice: serf's, then New's cleanup
		t.Fatalf("second Shutdown: %v", err)
	}
}
