package etcd

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// How a member's health was established.
const (
	ViaClient = "client" // its maintenance status answered on its own client URL
	ViaPeer   = "peer"   // its client URL is not reachable from here (k0s advertises 127.0.0.1): its peer URL accepted a connection
)

// MemberView is one member as a survey saw it.
type MemberView struct {
	Member
	// Self is the member behind the surveyed endpoint.
	Self bool
	// Healthy: it answered its maintenance status (Via client) or its peer
	// listener accepted a connection (Via peer).
	Healthy bool
	Via     string
	// Status is its own report (nil when read via its peer URL or failed).
	Status *Status
	// Err says why it is not healthy.
	Err string
}

// Survey is etcd's view of itself from one endpoint (this controller's
// member): /health, the member list, each member's status.
type Survey struct {
	Endpoint  string
	Health    Health
	HealthErr string
	ClusterID uint64
	// Self is the ID of the endpoint's member.
	Self    uint64
	Members []MemberView
	// Leader is the leader's ID as the endpoint's member knows it (0: none).
	Leader uint64
}

// Dialer opens a TCP connection (peer URL probes); net.Dialer's
// DialContext in production.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// Survey reads the member list through endpoint, then every member's
// status: on its client URL when that URL is its own (not the surveyed
// endpoint, not shared with another member), else a TCP connection to
// its peer URL stands for its health. An error means the member list
// could not be read: nothing is known.
func (c *Client) Survey(ctx context.Context, endpoint string, dial Dialer) (Survey, error) {
	s := Survey{Endpoint: endpoint}
	if h, err := c.Health(ctx, endpoint); err != nil {
		s.HealthErr = err.Error()
	} else {
		s.Health = h
	}
	ml, err := c.MemberList(ctx, endpoint)
	if err != nil {
		return s, err
	}
	s.ClusterID, s.Self = uint64(ml.Header.ClusterID), uint64(ml.Header.MemberID)
	shared := map[string]int{}
	for _, m := range ml.Members {
		for _, u := range slices.Compact(slices.Sorted(slices.Values(m.ClientURLs))) {
			shared[normURL(u)]++
		}
	}
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	s.Members = make([]MemberView, len(ml.Members))
	var wg sync.WaitGroup
	for i, m := range ml.Members {
		mv := &s.Members[i]
		mv.Member, mv.Self = m, uint64(m.ID) == s.Self
		wg.Go(func() { c.probe(ctx, mv, endpoint, shared, dial) })
	}
	wg.Wait()
	for _, mv := range s.Members {
		if mv.Self && mv.Status != nil {
			s.Leader = uint64(mv.Status.Leader)
		}
	}
	return s, nil
}

func (c *Client) probe(ctx context.Context, mv *MemberView, endpoint string, shared map[string]int, dial Dialer) {
	if mv.Name == "" && len(mv.ClientURLs) == 0 {
		mv.Err = "added but never started (no name, no client URL)"
		return
	}
	target := ""
	if mv.Self {
		target = endpoint
	} else {
		for _, u := range mv.ClientURLs {
			if n := normURL(u); shared[n] == 1 && n != normURL(endpoint) {
				target = u
				break
			}
		}
	}
	if target != "" {
		st, err := c.Status(ctx, target)
		if err != nil {
			mv.Err = err.Error()
			return
		}
		mv.Status, mv.Healthy, mv.Via = &st, true, ViaClient
		return
	}
	mv.Via = ViaPeer
	if len(mv.PeerURLs) == 0 {
		mv.Err = "no client URL of its own and no peer URL to probe"
		return
	}
	addr, err := hostPort(mv.PeerURLs[0])
	if err != nil {
		mv.Err = err.Error()
		return
	}
	t := c.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	conn, err := dial(dctx, "tcp", addr)
	if err != nil {
		mv.Err = fmt.Sprintf("peer URL %s: %v", mv.PeerURLs[0], err)
		return
	}
	conn.Close()
	mv.Healthy = true
}

func normURL(u string) string { return strings.TrimRight(strings.ToLower(u), "/") }

// hostPort is a URL's host:port (the scheme's default port when none).
func hostPort(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("peer URL %q is not a URL", raw)
	}
	if u.Port() != "" {
		return u.Host, nil
	}
	port := "2380"
	return net.JoinHostPort(u.Hostname(), port), nil
}

// Voters are the members that vote (learners do not).
func (s Survey) Voters() []MemberView {
	var out []MemberView
	for _, m := range s.Members {
		if !m.IsLearner {
			out = append(out, m)
		}
	}
	return out
}

// Quorum is the voters' majority arithmetic by the survey's health.
func (s Survey) Quorum() cluster.Quorum {
	v := s.Voters()
	healthy := 0
	for _, m := range v {
		if m.Healthy {
			healthy++
		}
	}
	return cluster.QuorumOf(len(v), healthy)
}

// Member finds the member named name (etcd member names are the hosts'
// names in k0s and kubeadm); ok false when none or several have it.
func (s Survey) Member(name string) (MemberView, bool) {
	var found []MemberView
	for _, m := range s.Members {
		if m.Name == name {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		return MemberView{}, false
	}
	return found[0], true
}

// LocalStatus is the surveyed member's own status (nil when it failed).
func (s Survey) LocalStatus() *Status {
	for _, m := range s.Members {
		if m.Self {
			return m.Status
		}
	}
	return nil
}

// LeaderName is the leader's member name ("" when none or unnamed).
func (s Survey) LeaderName() string {
	for _, m := range s.Members {
		if s.Leader != 0 && uint64(m.ID) == s.Leader {
			return m.Name
		}
	}
	return ""
}
