package checks

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/resolvconf"
)

// DefaultDNSTimeout bounds each lookup when DNS.Timeout is zero.
const DefaultDNSTimeout = 2 * time.Second

// Resolver looks a name up as the system does (*net.Resolver).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DNS checks that every inventory name resolves on this node to that
// host's internal address through the system resolver, the way Acura's
// Kubernetes and its services look their peers up (Acura requires working
// DNS; /etc/hosts alone is what the hosts check reads). A failure names
// the resolver asked.
type DNS struct {
	Cluster *cluster.Cluster
	// Resolver is the lookup; nil means net.DefaultResolver.
	Resolver Resolver
	// ResolvConf names the resolver in messages (default /etc/resolv.conf).
	ResolvConf string
	// Timeout bounds one lookup; all run at once.
	Timeout time.Duration
}

func (DNS) Name() string { return "dns" }
func (DNS) Area() Area   { return AreaNames }

type lookup struct {
	host  *cluster.Host
	addrs []netip.Addr
	err   error
}

func (d DNS) Run(ctx context.Context) Result {
	if d.Cluster == nil || len(d.Cluster.Hosts) == 0 {
		return Unknownf("no inventory: no names to resolve", "see the inventory check")
	}
	res := d.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultDNSTimeout
	}
	out := make([]lookup, len(d.Cluster.Hosts))
	var wg sync.WaitGroup
	for i, h := range d.Cluster.Hosts {
		out[i].host = h
		wg.Go(func() {
			lctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			out[i].addrs, out[i].err = res.LookupNetIP(lctx, "ip", h.Name)
		})
	}
	wg.Wait()

	var f findings
	var bad []string
	for _, l := range out {
		h := l.host
		got := make([]string, len(l.addrs))
		for i, a := range l.addrs {
			l.addrs[i] = a.Unmap().WithZone("")
			got[i] = l.addrs[i].String()
		}
		want := h.IP.Unmap()
		switch {
		case l.err != nil:
			f.detail("%s: does not resolve: %v", h.Name, l.err)
			bad = append(bad, h.Name)
		case !want.IsValid():
			f.detail("%s -> %s (the inventory gives no IP to compare)", h.Name, strings.Join(got, ", "))
		case slices.Contains(l.addrs, want):
			f.detail("%s -> %s", h.Name, strings.Join(got, ", "))
		case h.PublicAddress != "" && slices.ContainsFunc(l.addrs, func(a netip.Addr) bool { return a.String() == h.PublicAddress }):
			f.detail("%s -> %s: its public address, not its internal %s", h.Name, strings.Join(got, ", "), want)
			bad = append(bad, h.Name)
		default:
			f.detail("%s -> %s, the inventory's internal address is %s", h.Name, strings.Join(got, ", "), want)
			bad = append(bad, h.Name)
		}
	}
	if len(bad) == 0 {
		return f.result(fmt.Sprintf("%d inventory names resolve to their internal addresses", len(out)))
	}
	rc := d.ResolvConf
	if rc == "" {
		rc = "/etc/resolv.conf"
	}
	conf, err := resolvconf.ReadFile(rc)
	resolver := conf.String()
	if err != nil {
		resolver = fmt.Sprintf("the resolver of %s (unreadable: %v)", rc, err)
	}
	for _, p := range conf.Problems {
		f.detail("%s", p)
	}
	f.add(Crit, fmt.Sprintf("%d of %d inventory names do not resolve to their internal addresses (asked %s): %s",
		len(bad), len(out), resolver, strings.Join(bad, ", ")),
		fmt.Sprintf("add or fix the A records of %s on the DNS server (%s), each to the node's internal address; "+
			"check with `getent ahosts <name>` on this node; /etc/hosts entries also answer, but Acura needs names DNS resolves", strings.Join(bad, ", "), resolver))
	return f.result("")
}
