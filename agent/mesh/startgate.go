package mesh

import (
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/hashicorp/memberlist"
)

// gatedTransport is memberlist's own network transport whose incoming
// packets and streams are held until serf has finished starting (open).
//
// Why: serf.Create starts memberlist (which listens at once) and only then
// sets the memberlist field its delegate uses; a message that arrives in
// between and makes the delegate send (a relayed query answer, an answer
// to a query) dereferences nil and crashes the agent (serf v0.11.0,
// delegate.go NotifyMsg, the relay case: seen in the e2e tests when a
// restarting agent received the relayed answers of the continuous cluster
// evaluation's queries). Held packets wait in the socket buffers for the
// milliseconds serf.Create has left.
type gatedTransport struct {
	*memberlist.NetTransport
	packets chan *memberlist.Packet
	streams chan net.Conn

	open    chan struct{} // closed: deliver
	stop    chan struct{} // closed: shutting down, drop what comes
	drained chan struct{} // closed: the listeners ended, relays may end
	wg      sync.WaitGroup

	openOnce, stopOnce sync.Once
}

// newGatedTransport binds the transport memberlist would have made for ml
// (its BindAddr and BindPort; port 0 picks one, as memberlist does) and
// sets it as ml.Transport.
func newGatedTransport(ml *memberlist.Config) (*gatedTransport, error) {
	nc := &memberlist.NetTransportConfig{BindAddrs: []string{ml.BindAddr}, BindPort: ml.BindPort, Logger: ml.Logger}
	attempts := 1
	if ml.BindPort == 0 { // a picked port may be taken for one protocol: retry as memberlist does
		attempts = 10
	}
	var nt *memberlist.NetTransport
	var err error
	for range attempts {
		if nt, err = memberlist.NewNetTransport(nc); err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("gossip transport on %s:%d: %w", ml.BindAddr, ml.BindPort, err)
	}
	if ml.BindPort == 0 {
		ml.BindPort = nt.GetAutoBindPort()
		ml.AdvertisePort = ml.BindPort
	}
	t := &gatedTransport{NetTransport: nt, packets: make(chan *memberlist.Packet), streams: make(chan net.Conn),
		open: make(chan struct{}), stop: make(chan struct{}), drained: make(chan struct{})}
	t.wg.Add(2)
	go relay(t, nt.PacketCh(), t.packets, func(*memberlist.Packet) {})
	go relay(t, nt.StreamCh(), t.streams, func(c net.Conn) { c.Close() })
	ml.Transport = t
	return t, nil
}

// PacketCh and StreamCh are what memberlist reads: the gated channels.
func (t *gatedTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }
func (t *gatedTransport) StreamCh() <-chan net.Conn           { return t.streams }

// openGate delivers what arrived and what arrives from now on.
func (t *gatedTransport) openGate() { t.openOnce.Do(func() { close(t.open) }) }

// Shutdown drops what still arrives (the listeners may be blocked handing
// a packet over), shuts the listeners down and ends the relays. Safe to
// call twice (serf's shutdown, and New's cleanup after a failed start).
func (t *gatedTransport) Shutdown() error {
	var err error
	t.stopOnce.Do(func() {
		close(t.stop)
		err = t.NetTransport.Shutdown()
		close(t.drained)
		t.wg.Wait()
	})
	return err
}

// relay hands in to out once the gate opens; after stop it drops what
// comes until the listeners ended.
func relay[T any](t *gatedTransport, in <-chan T, out chan<- T, drop func(T)) {
	defer t.wg.Done()
	select {
	case <-t.open:
		for {
			select {
			case v := <-in:
				select {
				case out <- v:
				case <-t.stop:
					drop(v)
				}
			case <-t.stop:
				drain(t, in, drop)
				return
			}
		}
	case <-t.stop:
	}
	drain(t, in, drop)
}

func drain[T any](t *gatedTransport, in <-chan T, drop func(T)) {
	for {
		select {
		case v := <-in:
			drop(v)
		case <-t.drained:
			return
		}
	}
}
