package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/corebackup"
	"github.com/kuma-agent/kuma-agent/internal/raftops"
)

const raftInventory = `kuma:
  children:
    kuma_core:
      hosts:
        core-1.kuma.test:
          ip: 10.0.0.1
    kuma_core_peers:
      hosts:
        core-2.kuma.test:
          ip: 10.0.0.2
        core-3.kuma.test:
          ip: 10.0.0.3
`

func coreArgv(node, id, join string) []string {
	argv := []string{"/opt/kaspersky/kuma/kuma", "core", "--raft.node.listen", "0.0.0.0:7209", "--raft.node.addr", node + ":7209",
		"--health", "0.0.0.0:7208", "--id", id}
	if join != "" {
		argv = append(argv, "--raft.join", join)
	}
	return argv
}

// raftAgent serves OpClusterDoctor with the given nodes alive (their Core
// units active) and returns a config pointing at it and the inventory.
func raftAgent(t *testing.T, aliveNodes ...string) string {
	t.Helper()
	return raftAgentWith(t, nil, aliveNodes...)
}

// raftAgentWith is raftAgent also serving the handlers of extra.
func raftAgentWith(t *testing.T, extra map[string]control.Handler, aliveNodes ...string) string {
	t.Helper()
	return raftAgentSilent(t, extra, nil, nil, aliveNodes...)
}

// raftAgentSilent is raftAgentWith with the nodes of silent alive in the
// mesh but missing from the answers (unanswered), and those of ignored
// alive members the inventory does not vouch for (their answers dropped).
func raftAgentSilent(t *testing.T, extra map[string]control.Handler, silent, ignored []string, aliveNodes ...string) string {
	t.Helper()
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yml")
	if err := os.WriteFile(inv, []byte(raftInventory), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := control.ClusterReport{Self: "core-1.kuma.test"}
	ids := map[string]string{"core-1.kuma.test": "00000000-0000-0000-0000-000000000000", "core-2.kuma.test": "22222222", "core-3.kuma.test": "33333333"}
	for _, n := range []string{"core-1.kuma.test", "core-2.kuma.test", "core-3.kuma.test"} {
		up := strings.Contains(strings.Join(aliveNodes, " "), n)
		status := "failed"
		if up {
			status = "alive"
		}
		mi := control.MemberInfo{Name: n, Status: status}
		if slices.Contains(ignored, n) {
			mi.Ignored = "its address is not the inventory's"
		}
		rep.Members = append(rep.Members, mi)
		if !up || mi.Ignored != "" {
			continue
		}
		if slices.Contains(silent, n) {
			rep.Unanswered = append(rep.Unanswered, n)
			continue
		}
		join := "core-1.kuma.test:7209"
		raft := "follower"
		if n == "core-1.kuma.test" {
			join, raft = "", "leader"
		}
		rep.Nodes = append(rep.Nodes, clusterchecks.DoctorReply{Host: n, Cores: []clusterchecks.CoreFacts{{
			Unit: "kuma-core-" + ids[n] + ".service", ID: ids[n], Active: true, RaftAddr: n + ":7209", Join: join, Raft: raft,
			Argv: coreArgv(n, ids[n], join), Backup: "2026-11-27T19:00:00Z"}}})
	}
	sock := filepath.Join(dir, "control.sock")
	// As an agent that is not the evaluator answers: every node's Core
	// facts only when asked fresh, the stored cluster-wide findings else.
	handlers := map[string]control.Handler{}
	for op, h := range extra {
		handlers[op] = h
	}
	handlers[control.OpClusterDoctor] = func(_ context.Context, raw json.RawMessage) (any, error) {
		var args control.ClusterDoctorArgs
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &args); err != nil {
				return nil, err
			}
		}
		if !args.Fresh {
			stored := rep
			stored.Nodes = nil
			return stored, nil
		}
		return rep, nil
	}
	serveHandlers(t, sock, handlers)
	return writeConfig(t, func(c *config.Config) {
		c.Agent.ControlSocket = sock
		c.Inventory = inv
		c.StateDir = filepath.Join(dir, "state")
	})
}

func TestRaftStatus(t *testing.T) {
	cfg := raftAgent(t, "core-1.kuma.test", "core-2.kuma.test")
	code, out, errOut := run(context.Background(), "raft", "status", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"core-1.kuma.test  alive  kuma-core-00000000-0000-0000-0000-000000000000.service  true",
		"core-2.kuma.test:7209  core-1.kuma.test:7209  follower",
		"core-3.kuma.test  down",
		"Raft Cores alive 2 of 3, quorum 2: margin 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

// TestRaftSilentAgent: an agent alive in the mesh that did not answer
// (core-2), or whose member the inventory does not vouch for (core-3),
// leaves its Core unknown: the status says so, and restore-cluster, which
// would count them down (2 of 3 Cores "lost"), is refused rather than
// planned without them.
func TestRaftSilentAgent(t *testing.T) {
	cfg := raftAgentSilent(t, nil, []string{"core-2.kuma.test"}, []string{"core-3.kuma.test"}, "core-1.kuma.test", "core-2.kuma.test", "core-3.kuma.test")
	code, out, errOut := run(context.Background(), "raft", "status", "--config", cfg)
	if code != 0 || !strings.Contains(out, "core-2.kuma.test  silent") || !strings.Contains(out, "core-3.kuma.test  silent") ||
		!strings.Contains(out, "Raft Cores alive 1 of 3, quorum 2: UNKNOWN, 2 silent") || strings.Contains(out, "MAJORITY LOST") {
		t.Fatalf("status: exit %d %s\n%s", code, errOut, out)
	}
	code, out, _ = run(context.Background(), "raft", "status", "--config", cfg, "--format", "json")
	var js struct{ Silent int }
	if code != 0 || json.Unmarshal([]byte(out), &js) != nil || js.Silent != 2 {
		t.Fatalf("status json: exit %d\n%s", code, out)
	}
	code, out, _ = run(context.Background(), "raft", "restore-cluster", "--initial", "core-1.kuma.test", "--config", cfg, "--execute")
	if code != 1 || !strings.Contains(out, "NO  every live agent answered: no answer from core-2.kuma.test, core-3.kuma.test") ||
		strings.Contains(out, "Executing") {
		t.Fatalf("restore-cluster with silent agents: exit %d\n%s", code, out)
	}
}

// The procedures check their preconditions against the live cluster: with
// a majority, restore-cluster is refused (exit 1) and restore-node is
// ready; with the majority lost, restore-cluster prints the documented
// steps, --raft.join removed from the chosen node's command line.
func TestRaftProcedures(t *testing.T) {
	cfg := raftAgent(t, "core-1.kuma.test", "core-2.kuma.test")
	code, out, _ := run(context.Background(), "raft", "restore-cluster", "--initial", "core-1.kuma.test", "--config", cfg)
	if code != 1 || !strings.Contains(out, "NO  the majority is lost: 2 of 3 Cores alive") {
		t.Fatalf("restore-cluster with a majority: exit %d\n%s", code, out)
	}
	code, out, _ = run(context.Background(), "raft", "restore-node", "core-3.kuma.test", "--config", cfg)
	if code != 0 || !strings.Contains(out, "$ sudo /opt/kaspersky/kuma/kuma core --raft.join core-1.kuma.test:7209 --id <new ID from the web UI> --install") ||
		!strings.Contains(out, "web UI") || !strings.Contains(out, "[manual] Create a Core service for core-3.kuma.test") {
		t.Fatalf("restore-node: exit %d\n%s", code, out)
	}
	lost := raftAgent(t, "core-2.kuma.test")
	code, out, _ = run(context.Background(), "raft", "restore-cluster", "--initial", "core-2.kuma.test", "--config", lost)
	if code != 0 {
		t.Fatalf("restore-cluster after losing the majority: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"$ touch /opt/kaspersky/kuma/core/22222222/raft/.reset",
		"ExecStart=/opt/kaspersky/kuma/kuma core --raft.node.listen 0.0.0.0:7209 --raft.node.addr core-2.kuma.test:7209 --health 0.0.0.0:7208 --id 22222222\n",
		"$ systemctl daemon-reload && systemctl start kuma-core-22222222.service",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	code, out, _ = run(context.Background(), "raft", "remove-node", "core-3.kuma.test", "--config", cfg, "--format", "json")
	var p struct {
		Steps []struct{ Node, Command string }
	}
	if code != 1 || json.Unmarshal([]byte(out), &p) != nil || len(p.Steps) == 0 || !strings.Contains(out, `"note": true`) {
		t.Fatalf("remove-node json (2 remain: even, a note; its agent down and no backup: not ready): exit %d\n%s", code, out)
	}
}

func TestRaftUsage(t *testing.T) {
	cfg := raftAgent(t, "core-1.kuma.test")
	for _, args := range [][]string{
		{"raft"},
		{"raft", "bogus"},
		{"raft", "restore-cluster"},
		{"raft", "remove-node"},
		{"raft", "remove-node", "a", "b"},
		{"raft", "status", "extra"},
		{"raft", "remove-node", "nope.kuma.test", "--config", cfg},
	} {
		if code, _, errOut := run(context.Background(), args...); code != 2 || !strings.HasPrefix(errOut, "kuma-agent raft: ") {
			t.Errorf("%q: exit %d, stderr %q; want 2", args, code, errOut)
		}
	}
}

func TestRaftBackups(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, func(c *config.Config) { c.StateDir = dir })
	code, out, _ := run(context.Background(), "raft", "backups", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "no Core backup in "+filepath.Join(dir, "core-backups")) {
		t.Fatalf("no backups: exit %d %q", code, out)
	}
	src := filepath.Join(t.TempDir(), "abc")
	os.MkdirAll(filepath.Join(src, "raft"), 0o755)
	os.WriteFile(filepath.Join(src, "core.db"), []byte("db"), 0o600)
	cfg := config.Default()
	cfg.StateDir = dir
	o := corebackup.FromConfig(cfg)
	o.Free, o.Now = nil, func() time.Time { return time.Date(2026, 11, 27, 19, 30, 0, 0, time.UTC) }
	if _, err := corebackup.Create(context.Background(), o, "abc", src); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(context.Background(), "raft", "backups", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "abc      2026-11-27 19:30:00") || !strings.Contains(out, "ok ") {
		t.Fatalf("backups: exit %d\n%s", code, out)
	}
}

// TestRaftExecute: --execute hands the procedure and the Cores (IDs as
// their agents reported them) to the local agent, prints each step's
// outcome, the nodes and what is left by hand; a failed step is exit 1
// and nothing is left to do "by hand" printed as if it had worked.
func TestRaftExecute(t *testing.T) {
	var got control.RaftExecuteArgs
	ok := true
	exec := map[string]control.Handler{control.OpRaftExecute: func(_ context.Context, raw json.RawMessage) (any, error) {
		if err := json.Unmarshal(raw, &got); err != nil {
			return nil, err
		}
		rep := raftops.Report{Operation: "op-1", Procedure: got.Procedure, Target: got.Target, OK: ok,
			Steps: []raftops.StepResult{{Node: "core-1.kuma.test", Step: "stop-core", Status: "done", Detail: "stopped"}}}
		if !ok {
			rep.Steps = append(rep.Steps, raftops.StepResult{Node: "core-2.kuma.test", Step: "stop-core", Status: "failed", Detail: "refused: the majority of the Cores is lost does not hold here"})
		}
		return rep, nil
	}}
	lost := raftAgentWith(t, exec, "core-2.kuma.test")
	code, out, errOut := run(context.Background(), "raft", "restore-cluster", "--initial", "core-2.kuma.test", "--execute", "--config", lost)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	if got.Procedure != "restore-cluster" || got.Target != "core-2.kuma.test" || len(got.Cores) != 3 || got.Cores[1].ID != "22222222" || !got.Cores[1].AgentAlive {
		t.Fatalf("the agent was asked %+v", got)
	}
	for _, want := range []string{"[auto] Stop the Core", "Every step done.", "The nodes now", "Left to do by hand, in this order:",
		"[manual] Create a Core service for core-1.kuma.test", "--raft.join core-2.kuma.test:7209"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	ok = false
	code, out, _ = run(context.Background(), "raft", "restore-cluster", "--initial", "core-2.kuma.test", "--execute", "--config", lost)
	if code != 1 || !strings.Contains(out, "STOPPED at the first failure") || strings.Contains(out, "Left to do by hand") {
		t.Fatalf("a failed step: exit %d\n%s", code, out)
	}
	// Not ready: nothing is asked of the agent.
	got = control.RaftExecuteArgs{}
	working := raftAgentWith(t, exec, "core-1.kuma.test", "core-2.kuma.test")
	if code, _, _ := run(context.Background(), "raft", "restore-cluster", "--initial", "core-1.kuma.test", "--execute", "--config", working); code != 1 || got.Procedure != "" {
		t.Fatalf("restore-cluster --execute with a majority: exit %d, agent asked %+v", code, got)
	}
	// restore-node of a node whose Core unit nobody reported: nothing to execute.
	code, out, _ = run(context.Background(), "raft", "restore-node", "core-3.kuma.test", "--execute", "--config", working)
	if code != 0 || got.Procedure != "" || !strings.Contains(out, "Nothing to execute") {
		t.Fatalf("restore-node --execute without a unit: exit %d, agent asked %+v\n%s", code, got, out)
	}
}
