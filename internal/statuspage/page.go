// Package statuspage is the agent's read-only status page: what one agent
// knows about its cluster (the members and their health, the latest
// cluster evaluation's findings with remedies, quorum margins, the
// reachability matrix, clock skew, the last events it recorded) rendered
// server-side as one HTML document with inline CSS, no script and no
// external asset.
//
// Build turns the agent's state (Input) into the page's model (Page):
// every string that reaches the page passes through text(), which makes
// control and bidirectional-override characters visible (safetext), and
// html/template escapes it for its context. Names and messages come from
// the mesh: they are untrusted.
package statuspage

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/safetext"
)

// Input is what the agent knows, as the page needs it. Every field may be
// empty: a page of an agent that has just started, or that has no
// inventory, renders what there is and says what is missing.
type Input struct {
	Cluster string // events.cluster: the cluster's name
	Self    string // this node
	Now     time.Time
	// Inventory orders the matrix and says which pairs must reach each
	// other (cluster.ReachTargets); nil: no inventory.
	Inventory *cluster.Cluster
	Members   []control.MemberInfo
	// Report is the latest cluster evaluation (this node's when it
	// evaluates, else the one the evaluator stored); nil: none yet.
	Report *control.ClusterReport
	// Measured are the cluster checks as gathered, with their numbers
	// (Values, Edges): present only on the node that evaluated.
	Measured []clusterchecks.NamedResult
	// SkewWarn, SkewCrit colour the clock skews (checks.clock_skew).
	SkewWarn, SkewCrit time.Duration
	Events             []Event
	// Refresh asks the browser to reload the page (meta refresh); 0: never.
	Refresh time.Duration
}

// Event is one event the agent recorded.
type Event struct {
	Time     time.Time
	Type     string
	Subject  string
	Severity string
	Summary  string
}

// Page is the model the template renders. Every string is display text
// (already made visible by safetext); Class fields are fixed CSS class
// names chosen here, never taken from the input.
type Page struct {
	Title, Cluster, Self, Generated string
	RefreshSeconds                  int
	Status, StatusClass             string

	Evaluation Evaluation
	Members    []MemberRow
	Findings   []FindingRow
	// NodeFindings are the nodes' own findings that are not ok.
	NodeFindings []NodeFindingRow
	Unanswered   []string
	Margins      []ValueRow
	Skews        []ValueRow
	// MeasuredNote says why margins, skews and the matrix are missing.
	MeasuredNote string
	Grid         Grid
	Events       []EventRow
}

// Evaluation describes the cluster evaluation shown.
type Evaluation struct {
	None                  bool // no evaluation yet
	Evaluator, At, Age    string
	Fresh, ThisNode       bool
	Note                  string
	Status, StatusClass   string
	DurationMS, NodeCount string
}

// MemberRow is one mesh member.
type MemberRow struct {
	Name, Addr, Status, StatusClass, Roles string
	Health, HealthClass, Failing, Version  string
	Since, Ignored                         string
}

// FindingRow is one cluster-wide finding.
type FindingRow struct {
	Check, Status, Class, Message, Remedy, Nodes string
	Details                                      []string
}

// NodeFindingRow is one node's finding.
type NodeFindingRow struct {
	Node, Check, Status, Class, Message, Remedy string
}

// ValueRow is one measured number: a group's quorum margin, a node's skew.
type ValueRow struct {
	Name, Value, Class, Meaning string
}

// EventRow is one recorded event.
type EventRow struct {
	Time, Type, Subject, Severity, Class, Summary string
}

// Caps on what one page lists: a page stays small whatever the mesh holds.
const (
	maxMembers      = 512
	maxFindingRows  = 256
	maxDetails      = 20
	maxEvents       = 100
	maxTextBytes    = 2048
	maxValueRows    = 256
	refreshMinimum  = 5 * time.Second
	refreshMaximum  = time.Hour
	timeLayout      = "2006-01-02 15:04:05 UTC"
	notMeasuredNote = "measured on the cluster evaluator only"
)

// text is the one way a string reaches the page: control, format and
// invalid bytes made visible (safetext.Escape), cut to a bounded length.
func text(s string) string {
	s = safetext.Escape(s)
	if len(s) > maxTextBytes {
		cut := maxTextBytes
		for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func texts(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = text(s)
	}
	return strings.Join(out, ", ")
}

// statusClass is the CSS class of a check status or member health word;
// anything unexpected is "unknown", never echoed.
func statusClass(s string) string {
	switch s {
	case "ok", "warn", "crit":
		return s
	case "alive":
		return "ok"
	case "failed":
		return "crit"
	case "left", "leaving":
		return "warn"
	}
	return "unknown"
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// Build makes the page model from what the agent knows.
func Build(in Input) Page {
	p := Page{Cluster: text(in.Cluster), Self: text(in.Self), Generated: stamp(in.Now)}
	p.Title = "kuma-agent status"
	if in.Cluster != "" {
		p.Title += ": " + p.Cluster
	}
	if in.Refresh > 0 {
		p.RefreshSeconds = int(min(max(in.Refresh, refreshMinimum), refreshMaximum) / time.Second)
	}
	p.Members = memberRows(in.Members)
	p.Evaluation, p.Findings, p.NodeFindings, p.Unanswered = evaluationRows(in)
	p.Status, p.StatusClass = p.Evaluation.Status, p.Evaluation.StatusClass
	if p.Evaluation.None {
		p.Status, p.StatusClass = "not evaluated yet", "unknown"
	}
	if in.Measured == nil {
		p.MeasuredNote = notMeasuredNote
		if e := p.Evaluation.Evaluator; e != "" && !p.Evaluation.ThisNode {
			p.MeasuredNote += " (" + e + "): its status page shows them"
		}
	}
	for _, c := range in.Measured {
		switch c.Name {
		case clusterchecks.QuorumCheckName:
			p.Margins = marginRows(c.Values)
		case clusterchecks.ClockCheckName:
			p.Skews = skewRows(c.Values, c.Nodes, c.Result.Status == checks.Crit, in.SkewWarn, in.SkewCrit)
		}
	}
	p.Grid = buildGrid(in)
	p.Events = eventRows(in.Events)
	return p
}

func memberRows(ms []control.MemberInfo) []MemberRow {
	rows := make([]MemberRow, 0, min(len(ms), maxMembers))
	for _, m := range ms[:min(len(ms), maxMembers)] {
		r := MemberRow{Name: text(m.Name), Addr: text(m.Addr), Status: text(m.Status), StatusClass: statusClass(m.Status),
			Roles: texts(m.Roles), Health: text(m.Health), HealthClass: statusClass(m.Health), Failing: texts(m.Failing),
			Version: text(m.Version), Since: stamp(m.Since), Ignored: text(m.Ignored)}
		if m.Status != clusterchecks.StatusAlive {
			// A failed node's last gossiped health is history, not health.
			r.HealthClass = "unknown"
		}
		if m.TagsError != "" {
			r.Health, r.HealthClass = "tags unreadable: "+text(m.TagsError), "unknown"
		}
		rows = append(rows, r)
	}
	if len(ms) > maxMembers {
		rows = append(rows, MemberRow{Name: fmt.Sprintf("+%d more members not listed", len(ms)-maxMembers), StatusClass: "unknown", HealthClass: "unknown"})
	}
	return rows
}

func evaluationRows(in Input) (Evaluation, []FindingRow, []NodeFindingRow, []string) {
	rep := in.Report
	if rep == nil {
		return Evaluation{None: true, Note: "no cluster evaluation yet: the evaluator judges the cluster every checks.interval, " +
			"or run `kuma-agent doctor --cluster`"}, nil, nil, nil
	}
	ev := Evaluation{Evaluator: text(rep.Evaluator), At: stamp(rep.EvaluatedAt), Fresh: rep.Fresh, ThisNode: rep.Evaluator == in.Self,
		Note: text(rep.Note), Status: text(rep.Status.String()), StatusClass: statusClass(rep.Status.String()),
		DurationMS: fmt.Sprintf("%.0f", rep.DurationMS), NodeCount: fmt.Sprint(len(rep.Nodes))}
	if !rep.EvaluatedAt.IsZero() && !in.Now.IsZero() {
		ev.Age = in.Now.Sub(rep.EvaluatedAt).Round(time.Second).String()
	}
	var fs []FindingRow
	for _, c := range rep.Cluster[:min(len(rep.Cluster), maxFindingRows)] {
		st := c.Result.Status.String()
		fs = append(fs, FindingRow{Check: text(c.Name), Status: text(st), Class: statusClass(st), Message: text(c.Result.Message),
			Remedy: text(c.Result.Remedy), Nodes: texts(c.Nodes), Details: detailRows(c.Result.Details)})
	}
	// The worst first: what needs doing is at the top.
	slices.SortStableFunc(fs, func(a, b FindingRow) int { return cmp.Compare(severity(b.Class), severity(a.Class)) })
	var nfs []NodeFindingRow
	for _, n := range rep.Nodes {
		for _, f := range n.Findings {
			if f.Status == checks.OK.String() || len(nfs) >= maxFindingRows {
				continue
			}
			nfs = append(nfs, NodeFindingRow{Node: text(n.Host), Check: text(f.Check), Status: text(f.Status), Class: statusClass(f.Status),
				Message: text(f.Message), Remedy: text(f.Remedy)})
		}
	}
	slices.SortStableFunc(nfs, func(a, b NodeFindingRow) int { return cmp.Compare(severity(b.Class), severity(a.Class)) })
	var un []string
	for _, u := range rep.Unanswered[:min(len(rep.Unanswered), maxMembers)] {
		un = append(un, text(u))
	}
	return ev, fs, nfs, un
}

// severity orders status classes: crit first, then unknown, warn, ok.
func severity(class string) int {
	return map[string]int{"crit": 3, "unknown": 2, "warn": 1}[class]
}

func detailRows(ds []string) []string {
	out := make([]string, 0, min(len(ds), maxDetails)+1)
	for _, d := range ds[:min(len(ds), maxDetails)] {
		out = append(out, text(d))
	}
	if len(ds) > maxDetails {
		out = append(out, fmt.Sprintf("+%d more", len(ds)-maxDetails))
	}
	return out
}

// sortedKeys are m's keys in order, at most maxValueRows of them.
func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks[:min(len(ks), maxValueRows)]
}

// marginRows: a margin is how many more members the group can lose.
func marginRows(v map[string]float64) []ValueRow {
	var out []ValueRow
	for _, g := range sortedKeys(v) {
		m := v[g]
		r := ValueRow{Name: text(g), Value: fmt.Sprintf("%.0f", m)}
		switch {
		case m < 0 || math.IsNaN(m):
			r.Class, r.Meaning = "crit", "quorum lost"
		case m == 0:
			r.Class, r.Meaning = "warn", "one more failure loses quorum"
		default:
			r.Class, r.Meaning = "ok", fmt.Sprintf("can lose %.0f more", m)
		}
		out = append(out, r)
	}
	return out
}

// skewRows: each node's clock minus the cluster median. Only the nodes the
// clock check names (its outliers) are coloured: it judges what the
// measurement proves (the skew less its uncertainty, wide on a busy
// network), and the page does not overrule it: red only when the check
// is critical.
func skewRows(v map[string]float64, outliers []string, critical bool, warn, crit time.Duration) []ValueRow {
	warn = cmp.Or(warn, clusterchecks.DefaultSkewWarn)
	crit = cmp.Or(crit, clusterchecks.DefaultSkewCrit)
	var out []ValueRow
	for _, n := range sortedKeys(v) {
		s := v[n]
		d := time.Duration(s * float64(time.Second)).Abs()
		r := ValueRow{Name: text(n), Value: fmt.Sprintf("%+.3f s", s), Class: "ok", Meaning: "within " + warn.String()}
		switch {
		case math.IsNaN(s):
			r.Class, r.Meaning = "unknown", "not measured"
		case slices.Contains(outliers, n) && critical && d >= crit:
			r.Class, r.Meaning = "crit", "beyond "+crit.String()
		case slices.Contains(outliers, n):
			r.Class, r.Meaning = "warn", "beyond "+warn.String()
		case d >= warn:
			r.Meaning = "within what the measurement can tell"
		}
		out = append(out, r)
	}
	return out
}

func eventRows(es []Event) []EventRow {
	// The newest first.
	out := make([]EventRow, 0, min(len(es), maxEvents))
	for i := len(es) - 1; i >= 0 && len(out) < maxEvents; i-- {
		e := es[i]
		cls := map[string]string{"info": "ok", "warning": "warn", "critical": "crit"}[e.Severity]
		out = append(out, EventRow{Time: stamp(e.Time), Type: text(e.Type), Subject: text(e.Subject), Severity: text(e.Severity),
			Class: cmp.Or(cls, "unknown"), Summary: text(e.Summary)})
	}
	return out
}
