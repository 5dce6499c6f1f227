package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/lease"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// fakeLeases is the cluster-checks lease and its state record as the
// bucket holds them: one holder at a time; a takeover only when the test
// says the holder failed (the lease package's own rules are its tests').
type fakeLeases struct {
	mu     sync.Mutex
	holder string
	failed map[string]bool
	state  []byte
	holds  map[string]*fakeHold
}

func newFakeLeases() *fakeLeases {
	return &fakeLeases{failed: map[string]bool{}, holds: map[string]*fakeHold{}}
}

// fail marks node failed and expired: the next Acquire takes over, and the
// old holder's lease reports the loss.
func (f *fakeLeases) fail(node string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed[node] = true
}

func (f *fakeLeases) coordFor(node string) evalCoordinator { return fakeCoord{f: f, node: node} }

type fakeCoord struct {
	f    *fakeLeases
	node string
}

func (c fakeCoord) Acquire(context.Context) (evalHold, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holder != "" && f.holder != c.node && !f.failed[f.holder] {
		return nil, lease.ErrHeld{Purpose: evaluatorPurpose, Holder: f.holder}
	}
	if old := f.holds[f.holder]; old != nil && f.holder != c.node {
		old.lost <- lease.ErrLost
	}
	f.holder = c.node
	h := &fakeHold{f: f, node: c.node, lost: make(chan error, 1)}
	f.holds[c.node] = h
	return h, nil
}

func (c fakeCoord) ReadState(context.Context) ([]byte, bool, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return slices.Clone(c.f.state), c.f.state != nil, nil
}

type fakeHold struct {
	f    *fakeLeases
	node string
	lost chan error
}

func (h *fakeHold) Lost() <-chan error { return h.lost }

func (h *fakeHold) WriteState(_ context.Context, b []byte) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if h.f.holder != h.node {
		return fmt.Errorf("renew: %w", lease.ErrLost)
	}
	h.f.state = slices.Clone(b)
	return nil
}

func (h *fakeHold) Renew(context.Context) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if h.f.holder != h.node {
		return fmt.Errorf("renew: %w", lease.ErrLost)
	}
	return nil
}

func (h *fakeHold) Release(context.Context) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if h.f.holder == h.node {
		h.f.holder = ""
	}
	return nil
}

// fakeView is what the cluster queries would find: a status per check,
// changed by the test between steps.
type fakeView struct {
	mu       sync.Mutex
	status   map[string]checks.Status
	gathered int
}

func newFakeView() *fakeView {
	v := &fakeView{status: map[string]checks.Status{}}
	for _, c := range []string{"cluster-members", clusterchecks.MajorityCheckName, "cluster-clock", clusterchecks.QuorumCheckName} {
		v.status[c] = checks.OK
	}
	return v
}

func (v *fakeView) set(check string, st checks.Status) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.status[check] = st
}

func (v *fakeView) gather(context.Context) (control.ClusterReport, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.gathered++
	rep := control.ClusterReport{Self: "x", Nodes: []clusterchecks.DoctorReply{}, Unanswered: []string{}}
	for _, c := range []string{"cluster-members", clusterchecks.MajorityCheckName, "cluster-clock", clusterchecks.QuorumCheckName} {
		st := v.status[c]
		r := checks.Result{Status: st, Message: c + " is " + st.String()}
		if st != checks.OK {
			r.Remedy = "fix " + c
		}
		nr := clusterchecks.NamedResult{Name: c, Result: r}
		if st != checks.OK {
			nr.Nodes = []string{"b.x"}
		}
		if c == clusterchecks.QuorumCheckName {
			nr.Values = map[string]float64{"raft": 1}
		}
		rep.Cluster = append(rep.Cluster, nr)
		rep.Status = checks.Worst(rep.Status, st)
	}
	return rep, nil
}

func (v *fakeView) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.gathered
}

// published collects the events of every evaluator of a test, in order.
type published struct {
	mu  sync.Mutex
	evs []events.ClusterCheckData
}

func (p *published) emit(d events.ClusterCheckData) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.evs = append(p.evs, d)
}

// take returns the events since the last take, as "evaluator check
// transition status" lines.
func (p *published) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.evs {
		out = append(out, fmt.Sprintf("%s %s %s %s<-%s", e.Evaluator, e.Check, e.Transition, e.Status, e.Previous))
	}
	p.evs = nil
	return out
}

func newTestEvaluator(node string, v *fakeView, coord evalCoordinator, p *published, log *slog.Logger) *evaluator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &evaluator{self: node, interval: time.Second, warnAfter: 1, critAfter: 3, gather: v.gather, coord: coord,
		emit: p.emit, log: log, now: time.Now}
}

func wantEvents(t *testing.T, p *published, want ...string) {
	t.Helper()
	if got := p.take(); !slices.Equal(got, want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
}

// One raise per fault (warn first, crit after the failures it takes), one
// clear when it goes away, nothing while it persists.
func TestEvaluatorRaisesOnceDampsAndClears(t *testing.T) {
	v, p, fl := newFakeView(), &published{}, newFakeLeases()
	e := newTestEvaluator("a.x", v, fl.coordFor("a.x"), p, nil)
	ctx := context.Background()
	e.step(ctx)
	wantEvents(t, p) // all ok: nothing to raise
	v.set("cluster-clock", checks.Crit)
	e.step(ctx)
	wantEvents(t, p, "a.x cluster-clock raised warn<-ok") // critical only after 3 failures
	e.step(ctx)
	wantEvents(t, p)
	e.step(ctx)
	wantEvents(t, p, "a.x cluster-clock changed crit<-warn")
	for range 5 {
		e.step(ctx)
	}
	wantEvents(t, p)
	v.set("cluster-clock", checks.OK)
	e.step(ctx)
	wantEvents(t, p, "a.x cluster-clock cleared ok<-crit")
	e.step(ctx)
	wantEvents(t, p)

	// The event carries what a subscriber needs.
	v.set(clusterchecks.QuorumCheckName, checks.Warn)
	e.step(ctx)
	p.mu.Lock()
	d := p.evs[0]
	p.mu.Unlock()
	if d.Message != "cluster-quorum is warn" || d.Remedy != "fix cluster-quorum" || !slices.Equal(d.Nodes, []string{"b.x"}) || d.Evaluator != "a.x" || d.Previous != "ok" {
		t.Errorf("event data %+v", d)
	}
}

// With failures_before_warning 2 a single failure is not published, and a
// fault that goes away before it is reported is never raised nor cleared.
func TestEvaluatorDampsAFlap(t *testing.T) {
	v, p, fl := newFakeView(), &published{}, newFakeLeases()
	e := newTestEvaluator("a.x", v, fl.coordFor("a.x"), p, nil)
	e.warnAfter = 2
	ctx := context.Background()
	e.step(ctx)
	v.set("cluster-members", checks.Crit)
	e.step(ctx)
	v.set("cluster-members", checks.OK)
	e.step(ctx)
	wantEvents(t, p)
	v.set("cluster-members", checks.Crit)
	e.step(ctx)
	e.step(ctx)
	wantEvents(t, p, "a.x cluster-members raised warn<-ok")
}

// A new evaluator continues from the published statuses: it raises nothing
// the old one raised, and clears it once when it goes away.
func TestEvaluatorHandoverDoesNotRaiseAgain(t *testing.T) {
	v, p, fl := newFakeView(), &published{}, newFakeLeases()
	a := newTestEvaluator("a.x", v, fl.coordFor("a.x"), p, nil)
	b := newTestEvaluator("b.x", v, fl.coordFor("b.x"), p, nil)
	ctx := context.Background()
	v.set("cluster-clock", checks.Crit)
	v.set(clusterchecks.QuorumCheckName, checks.Warn)
	for range 3 {
		a.step(ctx)
		b.step(ctx) // refused: a holds the lease
	}
	wantEvents(t, p, "a.x cluster-clock raised warn<-none", "a.x cluster-quorum raised warn<-none", "a.x cluster-clock changed crit<-warn")
	if _, evaluating := b.snapshot(); evaluating {
		t.Fatal("b evaluates while a holds the lease")
	}

	fl.fail("a.x")
	b.step(ctx)
	b.step(ctx)
	wantEvents(t, p) // same faults, same statuses: no second raise
	if _, evaluating := b.snapshot(); !evaluating {
		t.Fatal("b did not take over")
	}
	// The old holder learns it lost the lease and publishes nothing.
	v.set("cluster-clock", checks.OK)
	a.step(ctx)
	wantEvents(t, p)
	if _, evaluating := a.snapshot(); evaluating {
		t.Error("a still evaluates after the takeover")
	}
	b.step(ctx)
	wantEvents(t, p, "b.x cluster-clock cleared ok<-crit")
	v.set(clusterchecks.QuorumCheckName, checks.OK)
	b.step(ctx)
	wantEvents(t, p, "b.x cluster-quorum cleared ok<-warn")
}

// A holder whose state write is refused (the lease moved under it)
// publishes nothing: the new holder does.
func TestEvaluatorLeaseLostPublishesNothing(t *testing.T) {
	v, p, fl := newFakeView(), &published{}, newFakeLeases()
	a := newTestEvaluator("a.x", v, fl.coordFor("a.x"), p, nil)
	ctx := context.Background()
	a.step(ctx)
	fl.mu.Lock()
	fl.holder = "c.x" // taken over between two of a's steps, before a heard of it
	fl.mu.Unlock()
	v.set("cluster-hosts", checks.Crit)
	v.set("cluster-clock", checks.Crit)
	a.step(ctx)
	wantEvents(t, p)
	if _, evaluating := a.snapshot(); evaluating {
		t.Error("a evaluates after its state write was refused")
	}
}

// A minority view says so, is never healthy, and neither clears what the
// majority raised nor raises what only it sees.
func TestEvaluatorMinorityClearsNothing(t *testing.T) {
	v, p, fl := newFakeView(), &published{}, newFakeLeases()
	e := newTestEvaluator("a.x", v, fl.coordFor("a.x"), p, nil)
	ctx := context.Background()
	v.set(clusterchecks.QuorumCheckName, checks.Warn)
	e.step(ctx)
	wantEvents(t, p, "a.x cluster-quorum raised warn<-none") // the first evaluation: nothing published before

	v.set(clusterchecks.MajorityCheckName, checks.Crit)
	v.set(clusterchecks.QuorumCheckName, checks.OK)
	v.set("cluster-clock", checks.Crit)
	for range 4 {
		e.step(ctx)
	}
	wantEvents(t, p, "a.x cluster-majority raised warn<-ok", "a.x cluster-majority changed crit<-warn")
	ev, _ := e.snapshot()
	if ev.report.Status == checks.OK {
		t.Error("a minority reports the cluster healthy")
	}
	for _, c := range ev.report.Cluster {
		switch c.Name {
		case clusterchecks.QuorumCheckName:
			if c.Result.Status != checks.Warn || !strings.Contains(strings.Join(c.Result.Details, " "), "minority") {
				t.Errorf("quorum in a minority: %v %v, want the held warn", c.Result.Status, c.Result.Details)
			}
		case "cluster-clock":
			if c.Result.Status == checks.Crit {
				t.Error("a minority judged the clock")
			}
		}
	}

	v.set(clusterchecks.MajorityCheckName, checks.OK)
	v.set("cluster-clock", checks.OK)
	e.step(ctx)
	wantEvents(t, p, "a.x cluster-majority cleared ok<-crit", "a.x cluster-quorum cleared ok<-warn")
}

// Without events every node evaluates for itself and logs its changes.
func TestEvaluatorSelfModeLogs(t *testing.T) {
	var buf testlab.SyncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	v, p := newFakeView(), &published{}
	a := newTestEvaluator("a.x", v, nil, p, log)
	b := newTestEvaluator("b.x", v, nil, p, log)
	ctx := context.Background()
	v.set("cluster-clock", checks.Warn)
	a.step(ctx)
	b.step(ctx)
	v.set("cluster-clock", checks.OK)
	a.step(ctx)
	wantEvents(t, p) // no events without events
	for _, e := range []*evaluator{a, b} {
		if _, evaluating := e.snapshot(); !evaluating {
			t.Errorf("%s does not evaluate for itself", e.self)
		}
	}
	out := buf.String()
	if n := strings.Count(out, "cluster check status changed"); n != 3 || !strings.Contains(out, "transition=cleared") ||
		strings.Count(out, "transition=raised") != 2 {
		t.Errorf("%d change lines, want 2 raised and 1 cleared:\n%s", n, out)
	}
}

// An evaluator that does not hold the lease gathers nothing.
func TestEvaluatorNotHolderDoesNotGather(t *testing.T) {
	v, p, fl := newFakeView(), &published{}, newFakeLeases()
	fl.holder = "z.x"
	e := newTestEvaluator("a.x", v, fl.coordFor("a.x"), p, nil)
	e.step(context.Background())
	if v.count() != 0 {
		t.Errorf("gathered %d times without the lease", v.count())
	}
}

// The state always fits the bucket's value bound, statuses intact.
func TestEvalStateFits(t *testing.T) {
	st := evalState{Evaluator: "a.x", At: time.Now()}
	for i := range 9 {
		var nodes []string
		for j := range 60 {
			nodes = append(nodes, fmt.Sprintf("node-%02d.example.com", j))
		}
		st.Checks = append(st.Checks, publishedCheck{Check: fmt.Sprintf("c%d", i), Status: checks.Crit,
			Message: strings.Repeat("é", 400), Remedy: strings.Repeat("r", 900), Nodes: nodes})
	}
	b, err := encodeEvalState(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > lease.MaxStateSize {
		t.Fatalf("%d bytes, limit %d", len(b), lease.MaxStateSize)
	}
	var back evalState
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Truncated || len(back.Checks) != 9 || back.Checks[8].Status != checks.Crit {
		t.Errorf("truncated %v, %d checks", back.Truncated, len(back.Checks))
	}
}

// holding (the Core failover's check right before a taint write) renews
// the lease: nil while this node holds it, an error wrapping
// lease.ErrLost once another node took it (and this node steps down),
// an error on a node that never held it.
func TestEvaluatorHoldingRenewsTheLease(t *testing.T) {
	v, p, fl := newFakeView(), &published{}, newFakeLeases()
	a := newTestEvaluator("a.x", v, fl.coordFor("a.x"), p, nil)
	b := newTestEvaluator("b.x", v, fl.coordFor("b.x"), p, nil)
	ctx := context.Background()
	if err := a.holding(ctx); err == nil {
		t.Fatal("holding before any lease")
	}
	a.step(ctx)
	b.step(ctx)
	if err := a.holding(ctx); err != nil {
		t.Fatalf("holder: %v", err)
	}
	if err := b.holding(ctx); err == nil {
		t.Fatal("b holds while a does")
	}
	fl.mu.Lock()
	fl.holder = "c.x" // taken over before a heard of it
	fl.mu.Unlock()
	if err := a.holding(ctx); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("after the takeover: %v, want lease.ErrLost", err)
	}
	if _, evaluating := a.snapshot(); evaluating {
		t.Error("a still evaluates after its renewal was refused")
	}
}
