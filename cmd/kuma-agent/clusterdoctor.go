package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
)

// fetchClusterReport asks the local agent for every node's findings and the
// cluster-wide checks, waiting at most timeout.
func fetchClusterReport(ctx context.Context, socket string, timeout time.Duration) (control.ClusterReport, error) {
	var rep control.ClusterReport
	err := callAgent(ctx, socket, timeout, control.OpClusterDoctor, nil, &rep)
	return rep, err
}

// writeClusterReport renders rep like doctor does for one node and returns
// the exit status it calls for.
func writeClusterReport(w io.Writer, rep control.ClusterReport, f doctor.Format, color bool) (int, error) {
	switch f {
	case doctor.FormatJSON:
		return rep.Status.ExitCode(), writeJSON(w, rep)
	case doctor.FormatNagios:
		return rep.Status.NagiosCode(), writeClusterNagios(w, rep)
	}
	fmt.Fprintf(w, "kuma-agent doctor --cluster (asked by %s): %d nodes answered, %d did not, in %.0f ms\n",
		esc(rep.Self), len(rep.Nodes), len(rep.Unanswered), rep.DurationMS)
	roles := map[string][]string{}
	for _, m := range rep.Members {
		roles[m.Name] = m.Roles
	}
	for _, n := range rep.Nodes {
		r := doctor.Report{Host: n.Host, Roles: roles[n.Host], Findings: []doctor.Finding{}}
		for _, fw := range n.Findings {
			res := fw.Result()
			r.Findings = append(r.Findings, doctor.Finding{Check: fw.Check, Area: checks.Area(fw.Area), Status: res.Status,
				Message: res.Message, Details: res.Details, Remedy: res.Remedy, Host: n.Host})
		}
		fmt.Fprintln(w)
		if err := writeTable(w, r, rep.DurationMS, color); err != nil {
			return 2, err
		}
	}
	if len(rep.Unanswered) > 0 {
		fmt.Fprintf(w, "\n== did not answer within the query timeout: %s\n", escJoin(rep.Unanswered, ", "))
	}
	cr := doctor.Report{Findings: []doctor.Finding{}}
	for _, c := range rep.Cluster {
		cr.Findings = append(cr.Findings, doctor.Finding{Check: c.Name, Area: checks.AreaCluster, Status: c.Result.Status,
			Message: c.Result.Message, Details: c.Result.Details, Remedy: c.Result.Remedy, Host: "cluster"})
	}
	fmt.Fprintf(w, "\nkuma-agent doctor: the cluster as a whole (%d members)\n", len(rep.Members))
	if err := writeTable(w, cr, rep.DurationMS, color); err != nil {
		return 2, err
	}
	return rep.Status.ExitCode(), nil
}

// writeTable renders a report rebuilt from the agent's answer. Its summary
// is counted here; the duration is the round's (durationMS, measured by the
// agent): the findings on the wire carry none, and Summarize leaves it 0.
func writeTable(w io.Writer, r doctor.Report, durationMS float64, color bool) error {
	r.Summary = doctor.Summarize(r.Findings)
	r.Summary.DurationMS = durationMS
	return r.Write(w, doctor.FormatTable, color)
}

// writeClusterNagios prints one status line with perfdata, then every
// problem, one a line.
func writeClusterNagios(w io.Writer, rep control.ClusterReport) error {
	var bad []string
	for _, n := range rep.Nodes {
		for _, fw := range n.Findings {
			if fw.Status != "ok" {
				bad = append(bad, esc(n.Host)+" "+esc(fw.Check)+": "+fw.Message)
			}
		}
	}
	for _, c := range rep.Cluster {
		if c.Result.Status != checks.OK {
			bad = append(bad, c.Name+": "+c.Result.Message)
		}
	}
	for _, u := range rep.Unanswered {
		bad = append(bad, esc(u)+": did not answer")
	}
	word := map[checks.Status]string{checks.OK: "OK", checks.Warn: "WARNING", checks.Crit: "CRITICAL", checks.Unknown: "UNKNOWN"}[rep.Status]
	head := fmt.Sprintf("KUMA-AGENT CLUSTER %s - %d nodes answered, %d did not", word, len(rep.Nodes), len(rep.Unanswered))
	var b strings.Builder
	fmt.Fprintf(&b, "%s | nodes=%d unanswered=%d problems=%d\n", head, len(rep.Nodes), len(rep.Unanswered), len(bad))
	for _, p := range bad {
		fmt.Fprintln(&b, strings.ReplaceAll(doctor.OneLine(p), "|", "/"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
