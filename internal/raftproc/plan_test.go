package raftproc

import (
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
)

func exec(t *testing.T, argv ...string) *kumaunit.Exec {
	e, err := kumaunit.Parse(argv)
	if err != nil {
		t.Fatal(err)
	}
	return &e
}

// status: n Cores, the first `alive` of them running, core-1 leading.
func status(t *testing.T, n, alive int) Status {
	st := Status{CoreDir: "/opt/kaspersky/kuma/core", Services: map[string][]string{"col-1.x": {"kuma-collector-c1.service"}}}
	for i := 1; i <= n; i++ {
		node := "core-" + string(rune('0'+i)) + ".x"
		id := strings.Repeat(string(rune('0'+i)), 8)
		argv := []string{"/opt/kaspersky/kuma/kuma", "core", "--raft.node.addr", node + ":7209", "--health", "0.0.0.0:7208", "--id", id}
		if i > 1 {
			argv = append(argv, "--raft.join", "core-1.x:7209")
		}
		c := Core{Node: node, RaftAddr: node + ":7209", AgentAlive: true, Unit: "kuma-core-" + id + ".service", ID: id,
			Active: i <= alive, Exec: exec(t, argv...), Backup: "2026-11-27T19:00:00Z"}
		if i == 1 && alive >= 1 {
			c.Raft = "leader"
		} else if i <= alive {
			c.Raft = "follower"
		}
		st.Cores = append(st.Cores, c)
	}
	return st
}

func text(p Plan) string {
	var b strings.Builder
	for _, c := range p.Preconditions {
		b.WriteString(map[bool]string{true: "ok ", false: "NO "}[c.OK] + c.Text + "\n")
	}
	for _, s := range p.Steps {
		m := ""
		if s.Manual {
			m = "[manual] "
		}
		b.WriteString(s.Node + ": " + m + s.Text + " | " + s.Command + "\n")
	}
	return b.String()
}

func TestRemoveNode(t *testing.T) {
	p, err := New("remove-node", "core-5.x", status(t, 5, 5))
	if err != nil {
		t.Fatal(err)
	}
	got := text(p)
	// 4 remain: quorum holds; an even count is flagged, as a note that
	// does not block (the way from 5 Cores to 3).
	if !p.Ready() || !strings.Contains(got, "ok the other Cores keep a majority of the 4 that remain: 4 alive") ||
		!strings.Contains(got, "NO KUMA allows only an odd number of Cores: 4 remain") {
		t.Fatalf("preconditions:\n%s", got)
	}
	for _, want := range []string{
		"web UI: [manual] Remove the Core service of core-5.x (ID 55555555)",
		"core-5.x: Back up the Core's working directory",
		"core-5.x: Stop the Core | systemctl stop kuma-core-55555555.service",
		"core-5.x: Remove its working directory | rm -rf /opt/kaspersky/kuma/core/55555555",
		"systemctl daemon-reload",
		"col-1.x: The Core nodes changed: make --core of kuma-collector-c1.service",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	// The backup comes before the stop.
	if strings.Index(got, "Back up") > strings.Index(got, "Stop the Core") {
		t.Errorf("backup after stop:\n%s", got)
	}
	// With two of three down, removing one more leaves no majority.
	p, _ = New("remove-node", "core-1.x", status(t, 3, 1))
	if p.Ready() || !strings.Contains(text(p), "NO the other Cores keep a majority of the 2 that remain: 0 alive") {
		t.Fatalf("no majority:\n%s", text(p))
	}
}

func TestRestoreNode(t *testing.T) {
	p, _ := New("restore-node", "core-3.x", status(t, 3, 2))
	got := text(p)
	if !p.Ready() || !strings.Contains(got, "sudo /opt/kaspersky/kuma/kuma core --raft.join core-1.x:7209 --id <new ID from the web UI> --install") ||
		!strings.Contains(got, "[manual] Create a Core service for core-3.x") || !strings.Contains(got, "./expand.sh") {
		t.Fatalf("restore-node:\n%s", got)
	}
	// Without a majority, restore-node is the wrong procedure.
	p, _ = New("restore-node", "core-3.x", status(t, 3, 1))
	if p.Ready() {
		t.Fatalf("restore-node without a majority is ready:\n%s", text(p))
	}
}

func TestRestoreCluster(t *testing.T) {
	p, _ := New("restore-cluster", "core-1.x", status(t, 3, 3))
	if p.Ready() || !strings.Contains(text(p), "NO the majority is lost: 3 of 3 Cores alive") {
		t.Fatalf("restore-cluster with a majority is ready:\n%s", text(p))
	}
	st := status(t, 3, 1)
	st.Cores[0].Exec = exec(t, "/opt/kaspersky/kuma/kuma", "core", "--raft.node.addr", "core-1.x:7209", "--id", "11111111", "--raft.join", "core-2.x:7209")
	p, _ = New("restore-cluster", "core-1.x", st)
	got := text(p)
	if !p.Ready() {
		t.Fatalf("not ready:\n%s", got)
	}
	order := []string{
		"core-1.x: Back up", "core-2.x: Back up", "core-3.x: Back up",
		"core-1.x: Stop the Core", "core-2.x: Stop the Core", "core-3.x: Stop the Core",
		"core-2.x: Remove its working directory | rm -rf /opt/kaspersky/kuma/core/22222222",
		"core-3.x: Remove its unit",
		"core-1.x: Mark the Raft state for a reset: the next start makes a one-node cluster | touch /opt/kaspersky/kuma/core/11111111/raft/.reset",
		"ExecStart=/opt/kaspersky/kuma/kuma core --raft.node.addr core-1.x:7209 --id 11111111 |",
		"core-1.x: Reload systemd and start the Core",
		"[manual] Create a Core service for core-2.x",
		"core-2.x: Install the Core, joining the restored cluster | sudo /opt/kaspersky/kuma/kuma core --raft.join core-1.x:7209",
		"[manual] Create a Core service for core-3.x",
	}
	at := 0
	for _, w := range order {
		i := strings.Index(got[at:], w)
		if i < 0 {
			t.Fatalf("%q missing or out of order in\n%s", w, got)
		}
		at += i
	}
	if strings.Contains(got, "core-1.x: Remove its working directory") {
		t.Fatalf("the chosen node's working directory removed:\n%s", got)
	}
}

func TestUnknownTargetAndProcedure(t *testing.T) {
	if _, err := New("remove-node", "nope.x", status(t, 3, 3)); err == nil || !strings.Contains(err.Error(), "no Core of the inventory") {
		t.Errorf("unknown node: %v", err)
	}
	if _, err := New("reinstall", "core-1.x", status(t, 3, 3)); err == nil {
		t.Error("unknown procedure accepted")
	}
}

// TestAutoSteps: the steps --execute performs are marked (restore-node:
// the removal of the broken Core); the web UI and install steps never.
func TestAutoSteps(t *testing.T) {
	autos := func(p Plan) (out []string) {
		for _, s := range p.Steps {
			if s.Auto {
				if s.Manual || strings.Contains(s.Command, "--install") {
					t.Errorf("%s: a manual or install step marked auto: %+v", p.Procedure, s)
				}
				out = append(out, s.Node+": "+s.Text)
			}
		}
		return out
	}
	p, _ := New("restore-node", "core-3.x", status(t, 3, 2))
	if a := autos(p); len(a) != 4 || !strings.HasPrefix(a[0], "core-3.x: Back up") {
		t.Fatalf("restore-node auto steps (removing the broken Core): %q", a)
	}
	p, _ = New("remove-node", "core-5.x", status(t, 5, 5))
	if a := autos(p); len(a) != 4 || !strings.HasPrefix(a[0], "core-5.x: Back up") {
		t.Fatalf("remove-node auto steps: %q", a)
	}
	p, _ = New("restore-cluster", "core-1.x", status(t, 3, 1))
	a := autos(p)
	if len(a) == 0 || !strings.Contains(a[len(a)-1], "Reload systemd and start the Core") {
		t.Fatalf("restore-cluster auto steps: %q", a)
	}
}

// TestSilentAgent: a Core whose agent is alive in the mesh but did not
// answer is unknown, not down: no procedure is ready, whatever its count
// would say (counted down, core-2's and core-3's silence would make a
// working 3-Core cluster look as if it had lost its majority).
func TestSilentAgent(t *testing.T) {
	st := status(t, 3, 1)
	for _, i := range []int{1, 2} {
		st.Cores[i] = Core{Node: st.Cores[i].Node, RaftAddr: st.Cores[i].RaftAddr, Silent: true}
	}
	for _, proc := range Procedures {
		p, err := New(proc, "core-1.x", st)
		if err != nil {
			t.Fatal(err)
		}
		if got := text(p); p.Ready() || !strings.Contains(got, "NO every live agent answered: no answer from core-2.x, core-3.x (its Core's state is unknown: see `kuma-agent doctor --cluster`") {
			t.Errorf("%s with silent agents:\n%s", proc, got)
		}
	}
	p, _ := New("restore-cluster", "core-1.x", status(t, 3, 1))
	if strings.Contains(text(p), "every live agent answered") {
		t.Fatalf("the precondition shown when every agent answered:\n%s", text(p))
	}
}
