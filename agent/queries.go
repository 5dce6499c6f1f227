package agent

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/agent/mesh"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/corebackup"
	"github.com/kuma-agent/kuma-agent/internal/hostsfile"
	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
)

// The gossip queries every agent answers. Each answer is data this agent
// already has or measures itself; a query never runs a command it names.
const (
	queryTime   = "kuma-time"   // this node's wall clock
	queryHosts  = "kuma-hosts"  // its /etc/hosts mapping of the inventory's names
	queryReach  = "kuma-reach"  // the peer ports it cannot reach, probed now
	queryDoctor = "kuma-doctor" // its latest check results
)

func (a *Agent) registerQueries() error {
	// The clock is read the moment the query arrives (the skew check
	// corrects by the round trip); the others cost work and spread their
	// answers in a large cluster (mesh.Profile.AnswerSpread).
	if err := a.mesh.HandleQuery(queryTime, func([]byte) ([]byte, error) {
		return clusterchecks.EncodePayload(clusterchecks.TimeReply{UnixNano: time.Now().Add(a.opts.ClockOffset).UnixNano()})
	}); err != nil {
		return err
	}
	spread := map[string]mesh.QueryHandler{
		queryHosts: func([]byte) ([]byte, error) {
			f, err := hostsfile.ReadFile(a.cfg.Paths.HostsFile)
			if err != nil {
				return nil, err
			}
			return clusterchecks.EncodePayload(clusterchecks.HostsViewOf(f, a.inventoryNames()).Reply())
		},
		queryReach: func([]byte) ([]byte, error) {
			return clusterchecks.EncodePayload(clusterchecks.ReachReplyOf(a.unreachable()))
		},
		queryDoctor: func([]byte) ([]byte, error) {
			r := clusterchecks.TrimDoctorReply(a.doctorReply(), clusterchecks.MaxPayload)
			return clusterchecks.EncodePayload(r)
		},
	}
	for name, h := range spread {
		if err := a.mesh.HandleQuerySpread(name, h); err != nil {
			return err
		}
	}
	return nil
}

func (a *Agent) inventoryNames() []string {
	if a.cluster == nil {
		return nil
	}
	names := make([]string, 0, len(a.cluster.Hosts))
	for _, h := range a.cluster.Hosts {
		names = append(names, h.Name)
	}
	return names
}

// unreachable probes this node's peer ports now (bounded by the ports
// timeout, well inside the query timeout).
func (a *Agent) unreachable() []clusterchecks.Edge {
	if a.reach == nil {
		return []clusterchecks.Edge{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Checks.Ports.Timeout+100*time.Millisecond)
	defer cancel()
	edges := []clusterchecks.Edge{}
	for _, u := range a.reach.Unreachable(ctx) {
		edges = append(edges, clusterchecks.Edge{From: a.node.Name, To: u.Target.Host.Name, Port: u.Target.Port, Reason: u.Reason, Refused: u.Refused})
	}
	return edges
}

func (a *Agent) doctorReply() clusterchecks.DoctorReply {
	r := clusterchecks.DoctorReply{Host: a.node.Name, Findings: []clusterchecks.FindingWire{}}
	for _, o := range a.sched.Latest() {
		r.Findings = append(r.Findings, clusterchecks.FindingOf(o.Check, o.Area, o.Result))
	}
	r.Cores, r.CoresOmitted = clusterchecks.CapCoreFacts(a.coreFacts())
	if a.certs != nil {
		r.Certs, r.CertsOmitted = clusterchecks.CapCertFacts(a.certs.Soonest(clusterchecks.MaxCertFacts))
	}
	return r
}

// coreFacts are this node's KUMA Core units as their own command lines
// say, with the Raft state the supervisor read.
func (a *Agent) coreFacts() []clusterchecks.CoreFacts {
	if a.sup == nil {
		return nil
	}
	var out []clusterchecks.CoreFacts
	for _, u := range a.sup.Units() {
		kind, id, ok := kumaunit.ParseName(u.Unit)
		if !ok || kind != kumaunit.KindCore {
			continue
		}
		f := clusterchecks.CoreFacts{Unit: u.Unit, ID: id, Active: u.Active == "active", Raft: a.sup.RaftState()}
		if u.Exec != nil {
			f.RaftAddr, _ = u.Exec.Value("raft.node.addr")
			f.Join, _ = u.Exec.Value("raft.join")
			f.Argv = u.Exec.Argv
		}
		if b, ok := corebackup.Newest(corebackup.FromConfig(a.cfg).Dir, id); ok {
			f.Backup = b.Time.Format(time.RFC3339)
		}
		out = append(out, f)
	}
	return out
}

// clusterDoctor asks every live member at once (four queries in parallel,
// one timeout) and judges the answers.
func (a *Agent) clusterDoctor(ctx context.Context) (control.ClusterReport, error) {
	start := time.Now()
	timeout := a.queryTimeout()
	type answer struct {
		resp map[string]mesh.Response
		err  error
	}
	names := []string{queryTime, queryHosts, queryReach, queryDoctor}
	// Every alive member answers every query; stop waiting when they have
	// (a stranger that does not answer costs the timeout, nothing else).
	alive := 0
	for _, m := range a.mesh.Members() {
		if m.Status == "alive" {
			alive++
		}
	}
	answers := make([]answer, len(names))
	var wg sync.WaitGroup
	for i, q := range names {
		wg.Go(func() {
			// A member still silent at half the timeout is asked again
			// (QueryUntil); that also covers serf losing the query itself,
			// seen once in a while with four queries at once on a machine
			// with both cores busy.
			answers[i].resp, answers[i].err = a.mesh.QueryUntil(ctx, q, nil, nil, timeout, alive)
		})
	}
	wg.Wait()
	for i, an := range answers {
		if an.err != nil {
			return control.ClusterReport{}, fmt.Errorf("cluster query %s: %w", names[i], an.err)
		}
	}
	members, info := a.clusterMembers()
	v := clusterchecks.View{
		Inventory: a.cluster, Self: a.node.Name, Members: members,
		Hosts:    map[string]clusterchecks.HostsView{},
		SkewWarn: a.cfg.Checks.ClockSkew.Warn, SkewCrit: a.cfg.Checks.ClockSkew.Crit,
		CertWarn: a.cfg.Checks.Certs.Warn, CertCrit: a.cfg.Checks.Certs.Crit, Now: time.Now().Add(a.opts.ClockOffset),
		EtcdDBWarn: a.cfg.Checks.Etcd.DBWarnPercent, EtcdDBCrit: a.cfg.Checks.Etcd.DBCritPercent,
	}
	rep := control.ClusterReport{Self: a.node.Name, Members: info, Nodes: []clusterchecks.DoctorReply{}, Unanswered: []string{}}
	bad := func(node, what string, err error) {
		a.log.Warn("malformed cluster answer", "from", node, "query", what, "err", err)
	}
	for node, r := range answers[0].resp {
		var tr clusterchecks.TimeReply
		if err := clusterchecks.DecodePayload(r.Payload, &tr); err != nil {
			bad(node, queryTime, err)
			continue
		}
		off, rtt := clusterchecks.ClockOffset(r.Sent, r.At, tr.Time())
		if direct, ok := a.mesh.RTT(node); ok && direct < rtt {
			// The query went out by gossip, the answer came straight back.
			rtt, off = direct, clusterchecks.ClockOffsetDirect(r.At, tr.Time(), direct)
		}
		bound := max(r.At.Sub(r.Sent), 0) / 2
		if node == a.node.Name {
			off, rtt, bound = 0, 0, 0 // by definition: the local clock is the reference
		}
		v.Times = append(v.Times, clusterchecks.TimeSample{Node: node, Offset: off, RTT: rtt, Bound: bound})
	}
	for node, r := range answers[1].resp {
		var hr clusterchecks.HostsReply
		if err := clusterchecks.DecodePayload(r.Payload, &hr); err != nil {
			bad(node, queryHosts, err)
			continue
		}
		hv, err := hr.View()
		if err != nil {
			bad(node, queryHosts, err)
			continue
		}
		v.Hosts[node] = hv
	}
	v.Reach = a.decodeReach(answers[2].resp)
	// Only the members the inventory vouches for are evidence: a stranger's
	// findings are not listed, its silence is not missed (the members
	// check reports it).
	bv, _ := clusterchecks.Believed(v)
	believed := map[string]bool{}
	for _, m := range bv.Members {
		believed[m.Name] = true
	}
	for node, r := range answers[3].resp {
		if !believed[node] {
			continue
		}
		var dr clusterchecks.DoctorReply
		if err := clusterchecks.DecodePayload(r.Payload, &dr); err != nil {
			bad(node, queryDoctor, err)
			continue
		}
		dr.Host = node // trust the mesh's name, not the payload's
		if len(dr.Cores) > 0 {
			if v.Cores == nil {
				v.Cores = map[string][]clusterchecks.CoreFacts{}
			}
			v.Cores[node], _ = clusterchecks.CapCoreFacts(dr.Cores)
		}
		if len(dr.Certs) > 0 {
			if v.Certs == nil {
				v.Certs = map[string][]checks.CertFact{}
			}
			v.Certs[node], _ = clusterchecks.CapCertFacts(dr.Certs)
		}
		rep.Nodes = append(rep.Nodes, dr)
		for _, f := range dr.Findings {
			rep.Status = checks.Worst(rep.Status, f.Result().Status)
		}
	}
	slices.SortFunc(rep.Nodes, func(x, y clusterchecks.DoctorReply) int { return cmp.Compare(x.Host, y.Host) })
	for _, m := range bv.Members {
		if m.Status == clusterchecks.StatusLeft {
			continue
		}
		if _, ok := answers[3].resp[m.Name]; !ok {
			rep.Unanswered = append(rep.Unanswered, m.Name)
		}
	}
	slices.Sort(rep.Unanswered)
	rep.Cluster = append(clusterchecks.All(v), a.kubeFindings(ctx)...)
	for _, c := range rep.Cluster {
		rep.Status = checks.Worst(rep.Status, c.Result.Status)
	}
	if len(rep.Unanswered) > 0 {
		rep.Status = checks.Worst(rep.Status, checks.Warn)
	}
	rep.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	return rep, nil
}
