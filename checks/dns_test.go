package checks

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/testlab/fakedns"
)

func acuraHosts() *cluster.Cluster {
	n1 := peerHost("acura-node-1", "127.0.60.1")
	n1.PublicAddress = "203.0.113.1"
	n2 := peerHost("acura-node-2", "127.0.60.2")
	lb := peerHost("acura-lb", "127.0.60.9")
	return &cluster.Cluster{Layout: cluster.LayoutAcura, Hosts: []*cluster.Host{n1, n2, lb}}
}

func resolvConf(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(p, []byte("search lan\nnameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Through Go's own resolver against a loopback DNS server: every name at
// its internal address is ok; a missing record, a public address, a wrong
// one are critical, and the message names the resolver of resolv.conf.
func TestDNSThroughARealResolver(t *testing.T) {
	a := netip.MustParseAddr
	srv, err := fakedns.Listen(map[string][]netip.Addr{
		"acura-node-1": {a("127.0.60.1")},
		"acura-node-2": {a("127.0.60.2")},
		"acura-lb":     {a("127.0.60.9")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	d := DNS{Cluster: acuraHosts(), Resolver: srv.Resolver(), ResolvConf: resolvConf(t)}
	r := d.Run(context.Background())
	if r.Status != OK || r.Message != "3 inventory names resolve to their internal addresses" || !hasLine(r.Details, "acura-lb -> 127.0.60.9") {
		t.Fatalf("all good: %+v", r)
	}

	srv2, err := fakedns.Listen(map[string][]netip.Addr{
		"acura-node-1": {a("203.0.113.1")},
		"acura-node-2": {a("127.0.60.22")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv2.Close() })
	d.Resolver = srv2.Resolver()
	r = d.Run(context.Background())
	if r.Status != Crit {
		t.Fatalf("broken: %+v", r)
	}
	for _, want := range []string{"3 of 3 inventory names", "asked nameserver 192.0.2.53 (search lan) from " + d.ResolvConf, "acura-node-1, acura-node-2, acura-lb"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("message %q lacks %q", r.Message, want)
		}
	}
	for _, want := range [][]string{
		{"acura-node-1 -> 203.0.113.1: its public address, not its internal 127.0.60.1"},
		{"acura-node-2 -> 127.0.60.22, the inventory's internal address is 127.0.60.2"},
		{"acura-lb: does not resolve"},
	} {
		if !hasLine(r.Details, want...) {
			t.Errorf("details %q lack %q", r.Details, want)
		}
	}
	if !strings.Contains(r.Remedy, "getent ahosts") || !strings.Contains(r.Remedy, "192.0.2.53") {
		t.Errorf("remedy %q", r.Remedy)
	}
}

type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func TestDNSNamesAnUnreadableResolvConf(t *testing.T) {
	d := DNS{Cluster: acuraHosts(), Resolver: mapResolver{}, ResolvConf: filepath.Join(t.TempDir(), "none")}
	r := d.Run(context.Background())
	if r.Status != Crit || !strings.Contains(r.Message, "unreadable") {
		t.Fatalf("%+v", r)
	}
	if r := (DNS{}).Run(context.Background()); r.Status != Unknown {
		t.Errorf("no inventory: %+v", r)
	}
}
