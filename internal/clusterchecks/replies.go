package clusterchecks

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/hostsfile"
)

// TimeReply answers the time query: the answering node's clock.
type TimeReply struct {
	UnixNano int64 `json:"unix_nano"`
}

// Time returns the reply's clock reading.
func (r TimeReply) Time() time.Time { return time.Unix(0, r.UnixNano) }

// HostsReply answers the hosts query: each inventory name the asker sent
// with the addresses the answering node's /etc/hosts maps it to (an empty
// list: not listed).
type HostsReply struct {
	Names map[string][]string `json:"names"`
}

// HostsViewOf looks names up in a parsed hosts file the way the resolver
// does (case-insensitive, first address first), without duplicates.
func HostsViewOf(f *hostsfile.File, names []string) HostsView {
	v := make(HostsView, len(names))
	for _, n := range names {
		addrs := []netip.Addr{}
		for _, e := range f.Lookup(n) {
			if !slices.Contains(addrs, e.IP) {
				addrs = append(addrs, e.IP)
			}
		}
		v[n] = addrs
	}
	return v
}

// Reply is the wire form of h.
func (h HostsView) Reply() HostsReply {
	r := HostsReply{Names: make(map[string][]string, len(h))}
	for n, addrs := range h {
		s := make([]string, len(addrs))
		for i, a := range addrs {
			s[i] = a.String()
		}
		r.Names[n] = s
	}
	return r
}

// View parses the reply's addresses; a bad one is an error naming it.
func (r HostsReply) View() (HostsView, error) {
	v := make(HostsView, len(r.Names))
	for n, addrs := range r.Names {
		out := make([]netip.Addr, 0, len(addrs))
		for _, s := range addrs {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("hosts reply: name %q: %w", clip(n), err)
			}
			out = append(out, a)
		}
		v[n] = out
	}
	return v, nil
}

// EdgeWire is the wire form of Edge: the port by name, number and protocol
// (the purpose is looked up on arrival, so it need not travel).
type EdgeWire struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Port   string `json:"port"`
	Number uint16 `json:"number"`
	Proto  string `json:"proto"`
	Reason string `json:"reason"`
	// Refused is omitted by agents that predate it: their edges count as
	// blocked, the stricter reading.
	Refused bool `json:"refused,omitempty"`
}

// ReachReply answers the reachability query: the edges from the answering
// node that failed (empty: none).
type ReachReply struct {
	Failing []EdgeWire `json:"failing"`
}

// Wire is the wire form of e.
func (e Edge) Wire() EdgeWire {
	return EdgeWire{From: e.From, To: e.To, Port: e.Port.Name, Number: e.Port.Number, Proto: string(e.Port.Proto), Reason: e.Reason, Refused: e.Refused}
}

// ReachReplyOf builds the reply for edges (never a nil list, so "none
// failing" stays distinct from "did not answer").
func ReachReplyOf(edges []Edge) ReachReply {
	r := ReachReply{Failing: make([]EdgeWire, 0, len(edges))}
	for _, e := range edges {
		r.Failing = append(r.Failing, e.Wire())
	}
	return r
}

// Edges converts the reply back, filling each port's purpose from the port
// matrix; a bad protocol or port 0 is an error naming the edge.
func (r ReachReply) Edges() ([]Edge, error) {
	known := map[string]cluster.Port{}
	for _, p := range cluster.KnownPorts() {
		known[p.Name] = p
	}
	out := make([]Edge, 0, len(r.Failing))
	for i, w := range r.Failing {
		proto := cluster.Proto(w.Proto)
		if proto != cluster.TCP && proto != cluster.UDP {
			return nil, fmt.Errorf("reach reply: edge %d (%s -> %s): protocol %q is not tcp or udp", i, clip(w.From), clip(w.To), clip(w.Proto))
		}
		if w.Number == 0 {
			return nil, fmt.Errorf("reach reply: edge %d (%s -> %s): port number 0", i, clip(w.From), clip(w.To))
		}
		p := cluster.Port{Name: w.Port, Number: w.Number, Proto: proto, Purpose: known[w.Port].Purpose}
		out = append(out, Edge{From: w.From, To: w.To, Port: p, Reason: w.Reason, Refused: w.Refused})
	}
	return out, nil
}

// DoctorReply answers the doctor query: one node's check results.
type DoctorReply struct {
	Host     string        `json:"host"`
	Findings []FindingWire `json:"findings"`
	// Truncated is set by TrimDoctorReply when it shortened anything.
	Truncated bool `json:"truncated,omitempty"`
	// FindingsOmitted counts findings dropped to fit (least severe first).
	FindingsOmitted int `json:"findings_omitted,omitempty"`
	// Cores are this node's KUMA Core units (CapCoreFacts bounds them;
	// CoresOmitted counts the rest).
	Cores        []CoreFacts `json:"cores,omitempty"`
	CoresOmitted int         `json:"cores_omitted,omitempty"`
	// Certs are this node's soonest certificates (CapCertFacts bounds
	// them; CertsOmitted counts the rest) for cluster-certs.
	Certs        []checks.CertFact `json:"certs,omitempty"`
	CertsOmitted int               `json:"certs_omitted,omitempty"`
}

// FindingWire is one check result on the wire.
type FindingWire struct {
	Check   string   `json:"check"`
	Area    string   `json:"area"`
	Status  string   `json:"status"`
	Message string   `json:"message"`
	Remedy  string   `json:"remedy,omitempty"`
	Details []string `json:"details,omitempty"`
	// DetailsOmitted counts details dropped to fit.
	DetailsOmitted int `json:"details_omitted,omitempty"`
}

// FindingOf is the wire form of check's result r.
func FindingOf(check string, area checks.Area, r checks.Result) FindingWire {
	return FindingWire{Check: check, Area: string(area), Status: r.Status.String(),
		Message: r.Message, Remedy: r.Remedy, Details: slices.Clone(r.Details)}
}

// Result converts f back; an unknown status string becomes Unknown.
func (f FindingWire) Result() checks.Result {
	st, err := checks.ParseStatus(f.Status)
	if err != nil {
		st = checks.Unknown
	}
	return checks.Result{Status: st, Message: f.Message, Remedy: f.Remedy, Details: slices.Clone(f.Details)}
}
