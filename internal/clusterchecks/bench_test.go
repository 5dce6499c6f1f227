package clusterchecks

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// bigView is a 600-node k0s cluster with a few faults of every kind, so
// every check walks its slow path.
func bigView(n int) View {
	c := &cluster.Cluster{Layout: cluster.LayoutK0s}
	v := View{Inventory: c, Self: "node-000.example.com", Hosts: map[string]HostsView{}, Reach: map[string][]Edge{}}
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("node-%03d.example.com", i)
		ip := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		role := cluster.RoleWorker
		if i < 3 {
			role = cluster.RoleController
		}
		c.Hosts = append(c.Hosts, &cluster.Host{Name: names[i], Address: ip.String(), IP: ip, Roles: cluster.Roles{role}})
	}
	for i, name := range names {
		m := Member{Name: name, Addr: c.Hosts[i].Address, Status: StatusAlive, Tags: Tags{Roles: c.Hosts[i].Roles, Version: "1.0.0",
			Health: health(i), MachineIDHash: MachineIDHash(fmt.Sprint(i % 590)), Generation: 1}}
		if i%97 == 5 {
			m.Status = StatusFailed
			m.Since = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			v.Members = append(v.Members, m)
			continue
		}
		v.Members = append(v.Members, m)
		off := time.Duration(i%50) * time.Millisecond * time.Duration(1+i%13)
		if i == 7 || i == 1 { // one clock far off, one controller
			off = 5 * time.Second
		}
		v.Times = append(v.Times, TimeSample{Node: name, Offset: off, RTT: time.Millisecond})
		hv := make(HostsView, n)
		for j, h := range c.Hosts {
			hv[h.Name] = []netip.Addr{h.IP}
			if (i+j)%211 == 0 {
				hv[h.Name] = []netip.Addr{}
			}
		}
		v.Hosts[name] = hv
		var edges []Edge
		if i%31 == 0 {
			edges = append(edges, Edge{From: name, To: names[(i+1)%n], Port: cluster.PortKubelet, Reason: "i/o timeout"})
		}
		v.Reach[name] = edges
	}
	return v
}

// health fails the ports check of one controller.
func health(i int) Health {
	if i == 2 {
		return Health{Worst: checks.Crit, Failing: []string{PortsCheckName}}
	}
	return Health{Worst: checks.OK}
}

func BenchmarkAll600(b *testing.B) {
	v := bigView(600)
	b.ReportAllocs()
	for b.Loop() {
		All(v)
	}
}

func BenchmarkEncodeTags(b *testing.B) {
	t := Tags{Roles: cluster.Roles{cluster.RoleCore, cluster.RoleWorker}, Version: "1.0.0", MachineIDHash: MachineIDHash("x"),
		Health: Health{Worst: checks.Warn, Failing: []string{"hosts", "ntp", "ports"}}, Generation: 7}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeTags(t); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBigViewResults(t *testing.T) {
	got := All(bigView(600))
	want := map[string]checks.Status{
		"cluster-members": checks.Crit, "cluster-machine-id": checks.Crit, "cluster-clock": checks.Crit,
		"cluster-hosts": checks.Warn, "cluster-reachability": checks.Crit, "cluster-quorum": checks.Warn,
		"cluster-etcd": checks.Unknown, // no controller gossips etcd's view
	}
	for _, r := range got {
		if r.Result.Status != want[r.Name] {
			t.Errorf("%s: %s, want %s: %s", r.Name, r.Result.Status, want[r.Name], r.Result.Message)
		}
		if len(r.Result.Message) > 1000 {
			t.Errorf("%s: message of %d bytes (names must be capped)", r.Name, len(r.Result.Message))
		}
	}
}

func BenchmarkTrimDoctorReply(b *testing.B) {
	r := bigReply(60, 20, 400) // ~4x over MaxPayload
	b.ReportAllocs()
	for b.Loop() {
		TrimDoctorReply(r, MaxPayload)
	}
}

// BenchmarkDecodeDoctorReply: what the evaluator spends per doctor answer
// (20 findings of a few details each, the size of a real node's answer).
func BenchmarkDecodeDoctorReply(b *testing.B) {
	p, err := EncodePayload(bigReply(20, 3, 60))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		var r DoctorReply
		if err := DecodePayload(p, &r); err != nil {
			b.Fatal(err)
		}
	}
}
