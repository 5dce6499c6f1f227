package raftops

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
)

const (
	n1 = "core-1.example.com"
	n2 = "core-2.example.com"
	n3 = "core-3.example.com"
	id = "00000000-0000-0000-0000-000000000002"
)

var nodes = []string{n1, n2, n3, "collector-1.example.com"}

func TestEveryTableStepIsExecuted(t *testing.T) {
	// Every row is reachable from Sequence, and every step Sequence
	// emits is a row: the table is the whole of what can be asked.
	cores := []Core{{Node: n1, ID: "a", AgentAlive: true}, {Node: n2, ID: "b", AgentAlive: true}, {Node: n3, ID: "c", AgentAlive: true}}
	seen := map[[2]string]bool{}
	for _, proc := range []string{ProcRemoveNode, ProcRestoreNode, ProcRestoreCluster} {
		calls, err := Sequence(proc, n1, cores)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			if _, ok := Lookup(proc, c.Step); !ok {
				t.Errorf("%s step %s is not in the table", proc, c.Step)
			}
			seen[[2]string{proc, c.Step}] = true
		}
	}
	for _, d := range Table {
		if !seen[[2]string{d.Procedure, d.Step}] {
			t.Errorf("table row %s/%s is never used", d.Procedure, d.Step)
		}
	}
}

func TestSequenceRestoreCluster(t *testing.T) {
	cores := []Core{{Node: n1, ID: "a", AgentAlive: true}, {Node: n2, ID: "b", AgentAlive: true}, {Node: n3, AgentAlive: true}}
	calls, err := Sequence(ProcRestoreCluster, n2, cores)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range calls {
		got = append(got, c.Node+"/"+c.Step+"/"+c.CoreID)
	}
	want := []string{n1 + "/stop-core/a", n2 + "/stop-core/b", n1 + "/remove-core/a", n2 + "/reset-seed/b"}
	if !slices.Equal(got, want) {
		t.Fatalf("sequence\n%q\nwant\n%q", got, want)
	}
	cores[2].AgentAlive = false
	if _, err := Sequence(ProcRestoreCluster, n2, cores); err == nil || !strings.Contains(err.Error(), n3) {
		t.Fatalf("a Core whose agent is down: %v", err)
	}
	if _, err := Sequence(ProcRestoreCluster, "nobody.example.com", cores); err == nil {
		t.Fatal("a target outside the Cores was accepted")
	}
	if _, err := Sequence("restore-everything", n2, cores); err == nil {
		t.Fatal("an unknown procedure was sequenced")
	}
}

func validReq() Request {
	return Request{Operation: "op-1", Procedure: ProcRestoreCluster, Step: StepRemoveCore, Node: n2, CoreID: id, Seed: n1}
}

func TestRequestValidate(t *testing.T) {
	if err := validReq().Validate(nodes); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	for name, mut := range map[string]func(*Request){
		"unknown step":            func(r *Request) { r.Step = "rm-rf" },
		"unknown procedure":       func(r *Request) { r.Procedure = "restore-all" },
		"seed on restore-node":    func(r *Request) { r.Procedure = ProcRestoreNode },
		"step of other procedure": func(r *Request) { r.Procedure, r.Step = ProcRemoveNode, StepResetSeed },
		"node not in inventory":   func(r *Request) { r.Node = "evil.example.com" },
		"seed not in inventory":   func(r *Request) { r.Seed = "evil.example.com" },
		"id with path separator":  func(r *Request) { r.CoreID = "../../etc" },
		"id with slash":           func(r *Request) { r.CoreID = "a/b" },
		"id with shell":           func(r *Request) { r.CoreID = "a;rm -rf /" },
		"id with dollar":          func(r *Request) { r.CoreID = "$(id)" },
		"id with backtick":        func(r *Request) { r.CoreID = "`id`" },
		"id empty":                func(r *Request) { r.CoreID = "" },
		"operation with newline":  func(r *Request) { r.Operation = "a\nb" },
		"node with space":         func(r *Request) { r.Node = "core-2 .example.com" },
		"node with semicolon":     func(r *Request) { r.Node = "core-2;.example.com" },
		"remove on the seed":      func(r *Request) { r.Node = n1 },
		"reset on another node":   func(r *Request) { r.Step = StepResetSeed },
		"seed on remove-node":     func(r *Request) { r.Procedure = ProcRemoveNode },
	} {
		r := validReq()
		mut(&r)
		if err := r.Validate(nodes); err == nil {
			t.Errorf("%s: %+v accepted", name, r)
		}
	}
}

func TestDecodeRequestStrict(t *testing.T) {
	for name, in := range map[string]string{
		"unknown field":  `{"operation":"a","command":"rm -rf /"}`,
		"two objects":    `{"operation":"a"}{"operation":"b"}`,
		"not an object":  `["a"]`,
		"too large":      `{"operation":"` + strings.Repeat("a", MaxMessage) + `"}`,
		"trailing bytes": `{"operation":"a"} x`,
	} {
		if _, err := DecodeRequest([]byte(in)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"operation":"op-1","procedure":"restore-cluster","step":"remove-core","node":"core-2.example.com","core_id":"x","seed":"core-1.example.com"}`))
	f.Add([]byte(`{"step":"../../x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		if r.Validate(nodes) == nil {
			// What validates holds only plain values.
			for _, v := range []string{r.CoreID, r.Operation} {
				if strings.ContainsAny(v, "/\\ ;$`\n\x00") {
					t.Fatalf("validated %q", v)
				}
			}
		}
	})
}

func TestDropIn(t *testing.T) {
	got, err := DropIn("op-1", []string{"/opt/kaspersky/kuma/kuma", "core", "--raft.node.addr", "core-1.example.com:7209", "--odd", `a "b" %h $X\`})
	if err != nil {
		t.Fatal(err)
	}
	want := "[Service]\nExecStart=\nExecStart=/opt/kaspersky/kuma/kuma core --raft.node.addr core-1.example.com:7209 --odd " + `"a \"b\" %%h $$X\\"` + "\n"
	if !strings.HasSuffix(got, want) {
		t.Fatalf("drop-in\n%s\nwant it to end with\n%s", got, want)
	}
	for _, bad := range [][]string{nil, {"kuma", "core"}, {"-/bin/kuma"}, {"/bin/kuma", "a\nExecStartPre=/bin/sh"}} {
		if _, err := DropIn("op", bad); err == nil {
			t.Errorf("%q written", bad)
		}
	}
}

// fakeUnits records what a step did.
type fakeUnits struct {
	did  []string
	fail string // the verb that fails
}

func (f *fakeUnits) do(verb, unit string) error {
	f.did = append(f.did, verb+" "+unit)
	if verb == f.fail {
		return errors.New(verb + " failed")
	}
	return nil
}
func (f *fakeUnits) Stop(_ context.Context, u string) error    { return f.do("stop", u) }
func (f *fakeUnits) Start(_ context.Context, u string) error   { return f.do("start", u) }
func (f *fakeUnits) Disable(_ context.Context, u string) error { return f.do("disable", u) }
func (f *fakeUnits) Mask(_ context.Context, u string) error    { return f.do("mask", u) }
func (f *fakeUnits) Reload(context.Context) error              { return f.do("reload", "") }

type lab struct {
	t       *Target
	units   *fakeUnits
	local   LocalCore
	running []string
	backups int
	backErr error
}

func newLab(t *testing.T, self string) *lab {
	dir := t.TempDir()
	unit := kumaunit.UnitName(kumaunit.KindCore, id)
	exec, err := kumaunit.Parse([]string{"/opt/kaspersky/kuma/kuma", "core", "--raft.node.addr", self + ":7209", "--raft.join", n1 + ":7209", "--id", id})
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{units: &fakeUnits{}, local: LocalCore{Unit: unit, ID: id, Exec: &exec}}
	l.t = &Target{Node: self, Nodes: nodes, Cores: []string{n1, n2, n3},
		Local:   func(context.Context) (LocalCore, bool, error) { return l.local, true, nil },
		Running: func() []string { return l.running },
		Units:   l.units,
		Backup: func(context.Context, string) (string, error) {
			if l.backErr != nil {
				return "", l.backErr
			}
			l.backups++
			return "/backups/x.tar.gz", nil
		},
		Keep:    func(id, path string) (string, error) { return "/backups/kept.service", nil },
		CoreDir: filepath.Join(dir, "core"), UnitDir: filepath.Join(dir, "units")}
	for _, d := range []string{filepath.Join(l.t.CoreDir, id, "raft"), l.t.UnitDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(l.t.UnitDir, unit), []byte("[Service]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *lab) ask(from string, r Request) Reply {
	b, _ := jsonOf(r)
	return l.t.Handle(context.Background(), events.Token(from), b)
}

func TestTargetRefusals(t *testing.T) {
	l := newLab(t, n2)
	l.running = []string{n1, n2, n3} // a working cluster
	r := validReq()
	for name, c := range map[string]struct {
		from string
		req  Request
		want string
	}{
		"requester outside the inventory": {"evil.example.com", r, "no node of the inventory"},
		"majority not lost":               {n1, r, "does not hold here"},
		"request for another node":        {n1, Request{Operation: "op", Procedure: ProcRestoreCluster, Step: StepRemoveCore, Node: n3, CoreID: id, Seed: n1}, "it is for " + n3},
		"unknown step":                    {n1, Request{Operation: "op", Procedure: ProcRestoreCluster, Step: "exec", Node: n2, CoreID: id, Seed: n1}, "not in the step table"},
	} {
		rep := l.ask(c.from, c.req)
		if rep.OK || !strings.Contains(rep.Reason, c.want) {
			t.Errorf("%s: %+v, want a refusal with %q", name, rep, c.want)
		}
	}
	// A subject naming one node while the payload claims nothing about the
	// sender: the token is all that counts, and a forged one is unknown.
	if rep := l.t.Handle(context.Background(), "core-9_example_com", []byte(`{}`)); rep.OK {
		t.Error("unknown sender token accepted")
	}
	if len(l.units.did) != 0 || l.backups != 0 {
		t.Fatalf("a refused request acted: %v, %d backups", l.units.did, l.backups)
	}
	// Majority lost, but the Core is still running: remove-core needs it stopped.
	l.running = []string{n2}
	l.local.Active = true
	if rep := l.ask(n1, r); rep.OK || !strings.Contains(rep.Reason, "still active") {
		t.Fatalf("remove-core on an active Core: %+v", rep)
	}
	// The request names another Core ID than the unit's.
	l.local.Active = false
	bad := r
	bad.CoreID = "00000000-0000-0000-0000-000000000009"
	if rep := l.ask(n1, bad); rep.OK || !strings.Contains(rep.Reason, "the request names") {
		t.Fatalf("wrong Core ID: %+v", rep)
	}
	// The backup fails: nothing is removed.
	l.backErr = errors.New("disk full")
	if rep := l.ask(n1, r); rep.OK || !strings.Contains(rep.Reason, "backup") {
		t.Fatalf("failed backup: %+v", rep)
	}
	if len(l.units.did) != 0 {
		t.Fatalf("acted after a failed backup: %v", l.units.did)
	}
	if _, err := os.Stat(filepath.Join(l.t.CoreDir, id)); err != nil {
		t.Fatalf("working directory gone after a failed backup: %v", err)
	}
}

func TestTargetRemoveCore(t *testing.T) {
	l := newLab(t, n2)
	l.running = []string{n1} // majority lost
	rep := l.ask(n1, validReq())
	if !rep.OK {
		t.Fatalf("remove-core: %+v", rep)
	}
	want := []string{"stop " + l.local.Unit, "disable " + l.local.Unit, "reload "}
	if !slices.Equal(l.units.did, want) || l.backups != 1 {
		t.Fatalf("did %q (%d backups), want %q after one backup", l.units.did, l.backups, want)
	}
	for _, p := range []string{filepath.Join(l.t.CoreDir, id), filepath.Join(l.t.UnitDir, l.local.Unit)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	// A unit whose file is not in the unit directory is masked, not deleted.
	l2 := newLab(t, n3)
	os.Remove(filepath.Join(l2.t.UnitDir, l2.local.Unit))
	l2.running = []string{n1, n2}
	r := Request{Operation: "op", Procedure: ProcRemoveNode, Step: StepRemoveCore, Node: n3, CoreID: id}
	if rep := l2.ask(n1, r); !rep.OK || !slices.Contains(l2.units.did, "mask "+l2.local.Unit) {
		t.Fatalf("remove-node of a vendor unit: %+v, did %v", rep, l2.units.did)
	}
	// remove-node refuses when the others would lose their quorum.
	l3 := newLab(t, n3)
	l3.running = []string{n1, n3}
	if rep := l3.ask(n1, r); rep.OK || !strings.Contains(rep.Reason, "keep a quorum") {
		t.Fatalf("remove-node without quorum for the others: %+v", rep)
	}
	// restore-node: the node stays a member, so the others must be a
	// quorum of all three: two of them run, one does not.
	l4 := newLab(t, n3)
	r.Procedure = ProcRestoreNode
	l4.running = []string{n1, n3}
	if rep := l4.ask(n1, r); rep.OK || !strings.Contains(rep.Reason, "works without this Core") {
		t.Fatalf("restore-node with one other Core running: %+v", rep)
	}
	l4.running = []string{n1, n2}
	if rep := l4.ask(n1, r); !rep.OK || l4.backups != 1 {
		t.Fatalf("restore-node with a working cluster: %+v", rep)
	}
}

// TestTargetAlreadyRemoved: a stop or removal asked of a node whose Core
// is gone already (unit and working directory) is done with nothing to
// do; with the working directory still there, or for the reset, refused.
func TestTargetAlreadyRemoved(t *testing.T) {
	l := newLab(t, n2)
	l.running = []string{n1}
	l.t.Local = func(context.Context) (LocalCore, bool, error) { return LocalCore{}, false, nil }
	if rep := l.ask(n1, validReq()); rep.OK || !strings.Contains(rep.Reason, "no Core unit") {
		t.Fatalf("no unit but a working directory: %+v", rep)
	}
	os.RemoveAll(filepath.Join(l.t.CoreDir, id))
	if rep := l.ask(n1, validReq()); !rep.OK || !strings.Contains(rep.Result, "nothing to do") || len(l.units.did) != 0 || l.backups != 0 {
		t.Fatalf("removed already: %+v, did %v", rep, l.units.did)
	}
	seed := newLab(t, n1)
	seed.t.Local = l.t.Local
	os.RemoveAll(filepath.Join(seed.t.CoreDir, id))
	r := Request{Operation: "op", Procedure: ProcRestoreCluster, Step: StepResetSeed, Node: n1, CoreID: id, Seed: n1}
	if rep := seed.ask(n2, r); rep.OK {
		t.Fatalf("reset-seed without a Core unit: %+v", rep)
	}
}

func TestTargetResetSeed(t *testing.T) {
	l := newLab(t, n1)
	l.running = nil
	r := Request{Operation: "op-7", Procedure: ProcRestoreCluster, Step: StepResetSeed, Node: n1, CoreID: id, Seed: n1}
	rep := l.ask(n2, r)
	if !rep.OK {
		t.Fatalf("reset-seed: %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(l.t.CoreDir, id, "raft", ".reset")); err != nil {
		t.Fatalf(".reset: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(l.t.UnitDir, l.local.Unit+".d", DropInName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "ExecStart=/opt/kaspersky/kuma/kuma core --raft.node.addr "+n1+":7209 --raft.join") || !strings.Contains(string(b), "ExecStart=\nExecStart=/opt/kaspersky/kuma/kuma core --raft.node.addr "+n1+":7209 --id "+id) {
		t.Fatalf("drop-in:\n%s", b)
	}
	want := []string{"reload ", "start " + l.local.Unit}
	if !slices.Equal(l.units.did, want) || l.backups != 1 {
		t.Fatalf("did %q, %d backups", l.units.did, l.backups)
	}
}

func TestCoordinatorStopsAtFirstFailure(t *testing.T) {
	calls := []Call{{Node: n1, Step: StepStopCore, CoreID: "a"}, {Node: n2, Step: StepStopCore, CoreID: "b"}, {Node: n3, Step: StepStopCore, CoreID: "c"}}
	var asked []string
	var evs []string
	c := Coordinator{
		Send: func(_ context.Context, node string, req Request) (Reply, error) {
			asked = append(asked, node)
			if node == n2 {
				return Reply{Operation: req.Operation, Step: req.Step, Reason: "the majority of the Cores is lost does not hold here"}, nil
			}
			return Reply{Operation: req.Operation, Step: req.Step, OK: true, Result: "stopped"}, nil
		},
		Emit: func(ty events.Type, d events.RaftStepData) { evs = append(evs, string(ty)+" "+d.Node) },
	}
	rep := c.Run(context.Background(), "op-1", ProcRestoreCluster, n1, calls)
	if rep.OK || !slices.Equal(asked, []string{n1, n2}) {
		t.Fatalf("report %+v, asked %v", rep, asked)
	}
	if st := []string{rep.Steps[0].Status, rep.Steps[1].Status, rep.Steps[2].Status}; !slices.Equal(st, []string{StatusDone, StatusFailed, StatusNotRun}) {
		t.Fatalf("statuses %v", st)
	}
	want := []string{"raft.step_started " + n1, "raft.step_done " + n1, "raft.step_started " + n2, "raft.step_failed " + n2}
	if !slices.Equal(evs, want) {
		t.Fatalf("events %q, want %q", evs, want)
	}
	// A lost lease: no step starts.
	lost := make(chan error, 1)
	lost <- errors.New("revision moved")
	asked = nil
	c.Lost = lost
	if rep := c.Run(context.Background(), "op-2", ProcRestoreCluster, n1, calls); rep.OK || len(asked) != 0 {
		t.Fatalf("ran %v without the lease: %+v", asked, rep)
	}
}

func jsonOf(r Request) ([]byte, error) { return json.Marshal(r) }

// TestTargetPreconditionSettles: a precondition this node's gossip view
// does not yet show is judged again within Settle (the view catching up
// with the requester's fresh answers) and must then hold on settleHold
// readings in a row; a view that keeps disagreeing, or agrees for one
// reading only, is refused, saying how long it was judged.
func TestTargetPreconditionSettles(t *testing.T) {
	// views[k] is the view after sleep k (views[0] before any).
	run := func(views ...[]string) (Reply, int, *lab) {
		l := newLab(t, n2)
		l.t.Settle = 2 * time.Second
		l.running = views[0]
		sleeps := 0
		l.t.Sleep = func(context.Context, time.Duration) bool {
			sleeps++
			l.running = views[min(sleeps, len(views)-1)]
			return true
		}
		return l.ask(n1, validReq()), sleeps, l
	}
	working, lost := []string{n1, n2, n3}, []string{n2}

	// core-1 and core-3 stopped, gossiped after two polls: it holds from
	// the second reading, the step goes on at the fifth (4 in a row).
	rep, sleeps, _ := run(working, working, lost)
	if !rep.OK || !strings.HasPrefix(rep.Result, "the precondition held here after 1.25s (this node's view caught up); backup ") || sleeps != 5 {
		t.Fatalf("after %d sleeps: %+v", sleeps, rep)
	}
	// Held at once: no wait, nothing said.
	rep, sleeps, _ = run(lost)
	if !rep.OK || strings.Contains(rep.Result, "precondition held") || sleeps != 0 {
		t.Fatalf("held at once, %d sleeps: %+v", sleeps, rep)
	}
	// A working cluster stays so, or flickers lost for one reading: refused.
	for name, views := range map[string][][]string{
		"stays working": {working},
		"flickers":      {working, working, lost, working},
	} {
		rep, sleeps, l := run(views...)
		if rep.OK || !strings.Contains(rep.Reason, "does not hold here") ||
			!strings.Contains(rep.Reason, "judged again for 2s: it did not hold on 4 readings in a row") {
			t.Errorf("%s: %+v", name, rep)
		}
		if sleeps != 8 || len(l.units.did) != 0 || l.backups != 0 {
			t.Errorf("%s: %d sleeps (want 8 of 250ms in 2s), acted %v, %d backups", name, sleeps, l.units.did, l.backups)
		}
	}
	// This agent stops while it waits: refused at once, saying so.
	l := newLab(t, n2)
	l.t.Settle = 2 * time.Second
	l.running = working
	l.t.Sleep = func(context.Context, time.Duration) bool { return false }
	if rep := l.ask(n1, validReq()); rep.OK || !strings.Contains(rep.Reason, "not judged again: this agent is stopping") {
		t.Fatalf("stopping: %+v", rep)
	}
}
