package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/supervisor"
)

// startRogueSerf is the finding's attacker: a bare serf client holding the
// cluster's gossip key (from keyringFile), under a name the inventory does
// not have, gossiping tags that say it is a healthy Core and the Raft
// leader. It joins the agent gossiping at join.
func startRogueSerf(t *testing.T, name, bind, keyringFile, join string) *serf.Serf {
	t.Helper()
	raw, err := os.ReadFile(keyringFile)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := json.Unmarshal(raw, &keys); err != nil || len(keys) == 0 {
		t.Fatalf("keyring %s: %v", keyringFile, err)
	}
	key, err := base64.StdEncoding.DecodeString(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	tags, err := clusterchecks.EncodeTags(clusterchecks.Tags{Roles: cluster.Roles{cluster.RoleCore, cluster.RoleCorePeer},
		Health: clusterchecks.Health{Worst: checks.OK}, Units: "ok", Raft: "leader"})
	if err != nil {
		t.Fatal(err)
	}
	quiet := log.New(io.Discard, "", 0)
	ml := memberlist.DefaultLANConfig()
	ml.Name, ml.BindAddr, ml.BindPort, ml.Logger = name, bind, 0, quiet
	if ml.Keyring, err = memberlist.NewKeyring(nil, key); err != nil {
		t.Fatal(err)
	}
	sc := serf.DefaultConfig()
	sc.NodeName, sc.Tags, sc.MemberlistConfig, sc.Logger = name, tags, ml, quiet
	s, err := serf.Create(sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	if _, err := s.Join([]string{join}, true); err != nil {
		t.Fatalf("the rogue holds the key and joins: %v", err)
	}
	return s
}

// Finding 2: a serf client holding the key, named rogue-leader.attacker.example
// and tagged k=leader, got a Core to run `--raft.join
// rogue-leader.attacker.example:7209`. Now the mesh lists it, the
// members check reports it as ignored for every decision, and no decision
// sees it: not the guard's peers, not the rejoin (no leader: refused
// without the lease, nothing run), not the cleanup's or the lease's
// failure verdicts, not doctor --cluster's nodes.
func TestRogueMemberChangesNoDecision(t *testing.T) {
	tc := startCluster(t, nil)
	const self, rogueName = "core-1.test.local", "rogue-leader.attacker.example"
	n1 := tc.nodes[self]
	n1.waitAlive(t, 3)
	a := n1.agent
	rogue := startRogueSerf(t, rogueName, testNet+"9", n1.cfg.Mesh.KeyringFile,
		net.JoinHostPort(testNet+"1", strconv.Itoa(n1.cfg.Mesh.Port)))

	// The mesh lists it, and says it is ignored.
	eventually(t, "the rogue in the mesh", 20*time.Second, func() bool { return n1.members(t)[rogueName].Status == "alive" })
	if m := n1.members(t)[rogueName]; !strings.Contains(m.Ignored, "not in the inventory; ignored for every decision") {
		t.Errorf("members shows the rogue as %+v", m)
	}
	if m := n1.members(t)["core-2.test.local"]; m.Ignored != "" {
		t.Errorf("an inventory member ignored: %q", m.Ignored)
	}

	// The guard, the rejoin and the cleanup see the inventory's members only.
	var names []string
	for _, p := range a.peers() {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"core-1.test.local", "core-2.test.local", "core-3.test.local"}) {
		t.Fatalf("peers %v", names)
	}

	// The rejoin: this node's Core is out, the rogue is the only member
	// claiming to lead.
	lk := &countingLocker{}
	run := &recordingRunner{}
	var evMu sync.Mutex
	var refusals []string
	sup, err := supervisor.New(supervisor.Options{
		Node: self, Backend: runningCore{}, Selection: supervisor.Select(supervisor.DefaultRules, a.node.Roles, a.cluster.Layout),
		Policy: supervisor.Backoff{Initial: time.Second, Max: time.Minute, Window: time.Hour, MaxAttempts: 3},
		Guard:  a.guard(a.cluster.Layout), Peers: a.peers, Locker: lk,
		Emit: func(t events.Type, _ string, _ events.Severity, data any) {
			if d, ok := data.(events.HealingData); ok && t == events.HealingRefused {
				evMu.Lock()
				refusals = append(refusals, d.Reason)
				evMu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = sup.Run(ctx) })
	eventually(t, "the Core unit seen", 5*time.Second, func() bool { return len(sup.Units()) == 1 })
	reads := &outSignal{}
	rejoin := a.rejoinOptions(a.cfg.Supervisor.Rejoin)
	rejoin.Interval, rejoin.Readings, rejoin.Signals, rejoin.Runner, rejoin.Act, rejoin.DryRun = 10*time.Millisecond, 1, []supervisor.Signal{reads}, run, true, false
	rejoin.JoinCommand = []string{"kuma", "core", "--raft.join", "{{.Leader}}", "--id", "{{.ID}}", "--install"}
	wg.Go(func() { sup.RunRejoin(ctx, rejoin) })
	eventually(t, "30 readings", 10*time.Second, func() bool { return reads.n() > 30 })
	evMu.Lock()
	got := slices.Clone(refusals)
	evMu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], "no Raft leader") {
		t.Errorf("refusals %q, want one: no Raft leader", got)
	}
	if run.count() != 0 || lk.count() != 0 {
		t.Errorf("the rogue's word made the rejoin run %q with %d lease grants", run.all(), lk.count())
	}

	// doctor --cluster: a finding, not a node.
	var rep control.ClusterReport
	if err := n1.freshDoctor(t, &rep); err != nil {
		t.Fatal(err)
	}
	var members checks.Result
	for _, c := range rep.Cluster {
		if c.Name == "cluster-members" {
			members = c.Result
		}
	}
	if members.Status != checks.Warn || !strings.Contains(members.Message, "not in the inventory (ignored for every decision): "+rogueName) ||
		!slices.Contains(members.Details, "member "+rogueName+" is not in the inventory; ignored for every decision (alive in the mesh)") {
		t.Errorf("members check %s: %s %q", members.Status, members.Message, members.Details)
	}
	for _, n := range rep.Nodes {
		if n.Host == rogueName {
			t.Error("the rogue is listed as a node")
		}
	}
	if slices.Contains(rep.Unanswered, rogueName) {
		t.Error("the rogue's silence is missed")
	}

	// A rogue that fails is no failure verdict for the lease or the cleanup.
	_ = rogue.Shutdown()
	eventually(t, "the rogue failed", 20*time.Second, func() bool { return n1.members(t)[rogueName].Status == "failed" })
	if a.Failed(rogueName) {
		t.Error("the lease would take over on the rogue's failure")
	}
	if _, failed := a.failedSince(rogueName); failed {
		t.Error("the rogue is a cleanup target")
	}
}

// The rejoin dials the inventory's Raft address: raft_node_addr, else the
// inventory name with the Raft port.
func TestRaftAddrIsTheInventorys(t *testing.T) {
	a := &Agent{cluster: &cluster.Cluster{Hosts: []*cluster.Host{
		{Name: "c1.x", Vars: map[string]any{"raft_node_addr": "c1-raft.x:7299"}},
		{Name: "c2.x"},
		{Name: "c3.x", Vars: map[string]any{"raft_node_addr": "no port"}},
	}}}
	for node, want := range map[string]string{"c1.x": "c1-raft.x:7299", "c2.x": "c2.x:7209", "c3.x": "c3.x:7209"} {
		if got := a.raftAddr(node, 7209); got != want {
			t.Errorf("raftAddr(%s) = %q, want %q", node, got, want)
		}
	}
}

// runningCore is an init system with one Raft Core unit, running.
type runningCore struct{}

const testCoreUnit = "kuma-core-00000000-0000-0000-0000-000000000000.service"

func (runningCore) Watch(ctx context.Context, match func(string) bool) (<-chan supervisor.Update, error) {
	ch := make(chan supervisor.Update, 1)
	ch <- supervisor.Update{State: coreState()}
	return ch, nil
}
func (runningCore) State(context.Context, string) (supervisor.UnitState, error) {
	return coreState(), nil
}
func (runningCore) ResetFailed(context.Context, string) error { return nil }
func (runningCore) Start(context.Context, string) error       { return errors.New("not in this test") }
func (runningCore) Restart(context.Context, string) error     { return errors.New("not in this test") }

func coreState() supervisor.UnitState {
	return supervisor.UnitState{Name: testCoreUnit, LoadState: "loaded", ActiveState: "active", SubState: "running"}
}

// outSignal always reads "out of the Raft cluster".
type outSignal struct {
	mu    sync.Mutex
	reads int
}

func (s *outSignal) Read(context.Context) (supervisor.Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return supervisor.Reading{Out: true, Detail: "test: out"}, nil
}

func (s *outSignal) n() int { s.mu.Lock(); defer s.mu.Unlock(); return s.reads }

type recordingRunner struct {
	mu   sync.Mutex
	runs [][]string
}

func (r *recordingRunner) Run(_ context.Context, argv []string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, argv)
	return nil, nil
}

func (r *recordingRunner) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.runs) }
func (r *recordingRunner) all() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.runs)
}

// countingLocker grants the lease to anyone and counts the grants.
type countingLocker struct {
	mu     sync.Mutex
	grants int
}

func (l *countingLocker) Acquire(context.Context, string) (supervisor.Lock, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.grants++
	return heldTestLock{}, nil
}

func (l *countingLocker) count() int { l.mu.Lock(); defer l.mu.Unlock(); return l.grants }

type heldTestLock struct{}

func (heldTestLock) Lost() <-chan error            { return nil }
func (heldTestLock) Release(context.Context) error { return nil }
