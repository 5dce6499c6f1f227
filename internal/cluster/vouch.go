package cluster

import (
	"fmt"
	"net/netip"

	"github.com/kuma-agent/kuma-agent/internal/safetext"
)

// Vouch is the one rule by which a gossip member is believed: the
// inventory has a host of exactly that name, and when the inventory gives
// the host an IP, the member advertises that IP. Every decision (the Raft
// leader of a rejoin, the quorum guard's counts, dead-member cleanup, the
// cluster checks, the lease's failure verdict) uses only members the
// inventory vouches for, under the host's inventory name, address and
// roles; anything the member says about itself beyond that (its tags'
// roles, its address when the inventory has none) is its word, not proof.
// The error says why the member is not believed. A nil cluster (no
// inventory) vouches for nobody.
func (c *Cluster) Vouch(name, addr string) (*Host, error) {
	if c == nil {
		return nil, fmt.Errorf("member %s: no inventory to vouch for it", safetext.Escape(name))
	}
	h := c.Host(name)
	if h == nil {
		return nil, fmt.Errorf("member %s is not in the inventory", safetext.Escape(name))
	}
	if !h.IP.IsValid() {
		return h, nil
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Unmap() != h.IP.Unmap() {
		return nil, fmt.Errorf("member %s advertises %s, the inventory has %s for it", safetext.Escape(name), safetext.Escape(addr), h.IP)
	}
	return h, nil
}
