package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
)

// fetchClusterReport asks the local agent for the latest cluster
// evaluation (fresh: a new one now), waiting at most timeout.
func fetchClusterReport(ctx context.Context, socket string, timeout time.Duration, fresh bool) (control.ClusterReport, error) {
	var rep control.ClusterReport
	err := callAgent(ctx, socket, timeout, control.OpClusterDoctor, control.ClusterDoctorArgs{Fresh: fresh}, &rep)
	return rep, err
}

// clusterJSON is rep in doctor's one finding shape (doctor.ClusterReport).
func clusterJSON(rep control.ClusterReport) doctor.ClusterReport {
	out := doctor.ClusterReport{Self: rep.Self, Evaluator: rep.Evaluator, EvaluatedAt: rep.EvaluatedAt, AgeSeconds: rep.AgeSeconds,
		Fresh: rep.Fresh, Note: rep.Note, Nodes: []string{}, Unanswered: append([]string{}, rep.Unanswered...), Findings: []doctor.Finding{}}
	for _, n := range rep.Nodes {
		out.Nodes = append(out.Nodes, n.Host)
		out.Findings = append(out.Findings, nodeFindings(n)...)
	}
	out.Findings = append(out.Findings, clusterFindings(rep)...)
	out.Summary = doctor.Summarize(out.Findings)
	out.Summary.Status, out.Summary.DurationMS = rep.Status, rep.DurationMS
	return out
}

// nodeFindings are one node's answer as doctor findings.
func nodeFindings(n clusterchecks.DoctorReply) []doctor.Finding {
	out := make([]doctor.Finding, 0, len(n.Findings))
	for _, fw := range n.Findings {
		res := fw.Result()
		out = append(out, doctor.Finding{Check: fw.Check, Area: checks.Area(fw.Area), Status: res.Status,
			Message: res.Message, Details: res.Details, Remedy: res.Remedy, Host: n.Host})
	}
	return out
}

// clusterFindings are the cluster-wide checks as doctor findings.
func clusterFindings(rep control.ClusterReport) []doctor.Finding {
	out := make([]doctor.Finding, 0, len(rep.Cluster))
	for _, c := range rep.Cluster {
		out = append(out, doctor.Finding{Check: c.Name, Area: checks.AreaCluster, Status: c.Result.Status,
			Message: c.Result.Message, Details: c.Result.Details, Remedy: c.Result.Remedy, Host: doctor.ClusterHost})
	}
	return out
}

// evaluationLine says whose evaluation this is and how old.
func evaluationLine(rep control.ClusterReport) string {
	if rep.Fresh {
		return fmt.Sprintf("evaluated now by %s", esc(rep.Evaluator))
	}
	return fmt.Sprintf("the continuous evaluation of %s, %s old (--fresh: evaluate now)", esc(rep.Evaluator),
		(time.Duration(rep.AgeSeconds * float64(time.Second))).Round(100*time.Millisecond))
}

// writeClusterReport renders rep like doctor does for one node and returns
// the exit status it calls for.
func writeClusterReport(w io.Writer, rep control.ClusterReport, f doctor.Format, color bool) (int, error) {
	switch f {
	case doctor.FormatJSON:
		return rep.Status.ExitCode(), writeJSON(w, clusterJSON(rep))
	case doctor.FormatNagios:
		return rep.Status.NagiosCode(), writeClusterNagios(w, rep)
	}
	fmt.Fprintf(w, "kuma-agent doctor --cluster (asked by %s; %s): %d nodes answered, %d did not, in %.0f ms\n",
		esc(rep.Self), evaluationLine(rep), len(rep.Nodes), len(rep.Unanswered), rep.DurationMS)
	if rep.Note != "" {
		fmt.Fprintf(w, "note: %s\n", esc(rep.Note))
	}
	roles := map[string][]string{}
	for _, m := range rep.Members {
		roles[m.Name] = m.Roles
	}
	for _, n := range rep.Nodes {
		r := doctor.Report{Host: n.Host, Roles: roles[n.Host], Findings: nodeFindings(n)}
		fmt.Fprintln(w)
		if err := writeTable(w, r, rep.DurationMS, color); err != nil {
			return 2, err
		}
	}
	if len(rep.Unanswered) > 0 {
		fmt.Fprintf(w, "\n== did not answer within the query timeout: %s\n", escJoin(rep.Unanswered, ", "))
	}
	cr := doctor.Report{Findings: clusterFindings(rep)}
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
