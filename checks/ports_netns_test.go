package checks

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/netlab"
)

// Issue 14: a refused connection proves the path is open, a timeout says
// a firewall drops it. Two hosts in network namespaces; host 1 listens on
// one port, has nothing on two others, and an nft rule dropping a fourth.
// The reach check runs from host 2 with real sockets.
func TestReachTellsRefusedFromDroppedInNetns(t *testing.T) {
	lab := netlab.New(t, 2)
	testlab.NeedTools(t, "nft")
	ln, err := lab.ListenTCP(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // accept and close, as a real service's kernel would complete the handshake anyway
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := uint16(ln.Addr().(*net.TCPAddr).Port)
	const dropped, unused, absent = 20_002, 20_003, 20_004
	if err := lab.DropTCP(1, dropped); err != nil {
		t.Fatal(err)
	}
	peer := peerHost("acura-node-1", lab.Addr(1))
	port := func(name string, n uint16) cluster.Port {
		return cluster.Port{Name: name, Number: n, Proto: cluster.TCP, Purpose: name}
	}
	p := Ports{
		Targets: []cluster.Target{
			{Host: peer, Port: port("service", open), Listens: true},
			{Host: peer, Port: port("nodeport", unused)},                 // refused, none required: open path
			{Host: peer, Port: port("kubelet", absent), Listens: true},   // refused, required: the service is missing
			{Host: peer, Port: port("filtered", dropped), Listens: true}, // dropped: a firewall
		},
		Timeout: 500 * time.Millisecond,
		Dial:    lab.Dialer(2),
	}
	r := p.Run(context.Background())
	if r.Status != Crit {
		t.Fatalf("status %v: %+v", r.Status, r)
	}
	for _, want := range []string{"1 of 4 peer ports unreachable on 1 peer", "1 of 4 peer ports refused on 1 peer: the path is open"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("message %q lacks %q", r.Message, want)
		}
	}
	for _, want := range [][]string{
		{"port 20002/tcp filtered: no answer within 500ms (filtered: a firewall drops it"},
		{"port 20004/tcp kubelet: connection refused (the path is open: nothing listens)"},
		{"path open (refused: nothing listens there, none required): 20003/tcp"},
		{"reachable:", strconv.Itoa(int(open)) + "/tcp"},
	} {
		if !hasLine(r.Details, want...) {
			t.Errorf("details %q lack %q", r.Details, want)
		}
	}
	// The firewall remedy opens only the dropped port.
	if !strings.Contains(r.Remedy, "--add-port=20002/tcp") || strings.Contains(r.Remedy, "--add-port=20004/tcp") || strings.Contains(r.Remedy, "--add-port=20003/tcp") {
		t.Errorf("remedy %q", r.Remedy)
	}
	// The cluster matrix row: the dropped and the missing service, told apart.
	got := map[uint16]bool{}
	for _, u := range p.Unreachable(context.Background()) {
		got[u.Target.Port.Number] = u.Refused
	}
	if len(got) != 2 || got[dropped] || !got[absent] {
		t.Errorf("unreachable %v, want 20002 blocked and 20004 refused", got)
	}
}
