package doctor

import (
	"context"
	"github.com/kuma-agent/kuma-agent/internal/plan"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
)

// Finding is one check's outcome in the report. The JSON form is documented
// in the README ("doctor --format json").
type Finding struct {
	Check      string        `json:"check"`
	Area       checks.Area   `json:"area"`
	Status     checks.Status `json:"status"`
	Message    string        `json:"message"`
	Details    []string      `json:"details,omitempty"`
	Remedy     string        `json:"remedy,omitempty"`
	Host       string        `json:"host"`
	DurationMS float64       `json:"duration_ms"`
}

// Summary counts findings by status.
type Summary struct {
	Status     checks.Status `json:"status"`
	OK         int           `json:"ok"`
	Warn       int           `json:"warn"`
	Crit       int           `json:"crit"`
	Unknown    int           `json:"unknown"`
	Total      int           `json:"total"`
	DurationMS float64       `json:"duration_ms"`
}

// Report is the whole diagnosis of one node.
type Report struct {
	Host      string    `json:"host"`
	Roles     []string  `json:"roles"`
	Layout    string    `json:"layout,omitempty"`
	Inventory string    `json:"inventory,omitempty"`
	Time      time.Time `json:"time"`
	Findings  []Finding `json:"findings"`
	Summary   Summary   `json:"summary"`
}

// Run executes the plan with the runner and assembles the report.
func Run(ctx context.Context, p plan.Plan, r checks.Runner) Report {
	start := time.Now()
	rep := FromOutcomes(p, r.RunAll(ctx, p.Checks))
	rep.Time = start.UTC()
	rep.Summary.DurationMS = ms(time.Since(start))
	return rep
}

// FromOutcomes assembles a report from outcomes already at hand (the
// daemon's latest results).
func FromOutcomes(p plan.Plan, outs []checks.Outcome) Report {
	start := time.Now()
	rep := Report{Host: p.Node.Name, Roles: []string{}, Inventory: p.InventoryPath, Time: start.UTC(), Findings: []Finding{}}
	for _, role := range p.Node.Roles {
		rep.Roles = append(rep.Roles, string(role))
	}
	if p.Cluster != nil {
		rep.Layout = string(p.Cluster.Layout)
	}
	for _, o := range outs {
		rep.Findings = append(rep.Findings, Finding{
			Check: o.Check, Area: o.Area, Status: o.Status, Message: o.Message, Details: o.Details,
			Remedy: o.Remedy, Host: p.Node.Name, DurationMS: ms(o.Duration),
		})
	}
	rep.Summary = Summarize(rep.Findings)
	for _, o := range outs {
		rep.Summary.DurationMS = max(rep.Summary.DurationMS, ms(o.Duration))
	}
	return rep
}

// Summarize counts findings by status.
func Summarize(fs []Finding) Summary {
	s := Summary{Total: len(fs)}
	for _, f := range fs {
		s.Status = checks.Worst(s.Status, f.Status)
		switch f.Status {
		case checks.OK:
			s.OK++
		case checks.Warn:
			s.Warn++
		case checks.Crit:
			s.Crit++
		default:
			s.Unknown++
		}
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
