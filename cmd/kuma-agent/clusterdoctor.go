package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/doctor"
)

// runClusterDoctor asks the local agent for every node's findings and the
// cluster-wide checks, and renders them like doctor does for one node.
func runClusterDoctor(ctx context.Context, socket string, f doctor.Format, color bool, stdout, stderr io.Writer) int {
	var rep control.ClusterReport
	if err := control.Call(ctx, socket, control.OpClusterDoctor, nil, &rep); err != nil {
		fmt.Fprintf(stderr, "kuma-agent doctor --cluster: %v\n", err)
		return 2
	}
	switch f {
	case doctor.FormatJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return rep.Status.ExitCode()
	case doctor.FormatNagios:
		var bad []string
		for _, n := range rep.Nodes {
			for _, fw := range n.Findings {
				if fw.Status != "ok" {
					bad = append(bad, n.Host+" "+fw.Check+": "+fw.Message)
				}
			}
		}
		for _, c := range rep.Cluster {
			if c.Result.Status != checks.OK {
				bad = append(bad, c.Name+": "+c.Result.Message)
			}
		}
		for _, u := range rep.Unanswered {
			bad = append(bad, u+": did not answer")
		}
		word := map[checks.Status]string{checks.OK: "OK", checks.Warn: "WARNING", checks.Crit: "CRITICAL", checks.Unknown: "UNKNOWN"}[rep.Status]
		head := fmt.Sprintf("KUMA-AGENT CLUSTER %s - %d nodes answered, %d did not", word, len(rep.Nodes), len(rep.Unanswered))
		fmt.Fprintf(stdout, "%s | nodes=%d unanswered=%d problems=%d\n", head, len(rep.Nodes), len(rep.Unanswered), len(bad))
		for _, b := range bad {
			fmt.Fprintln(stdout, strings.ReplaceAll(doctor.OneLine(b), "|", "/"))
		}
		return rep.Status.NagiosCode()
	}
	fmt.Fprintf(stdout, "kuma-agent doctor --cluster (asked by %s): %d nodes answered, %d did not, in %.0f ms\n",
		rep.Self, len(rep.Nodes), len(rep.Unanswered), rep.DurationMS)
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
		r.Summary = doctor.Summarize(r.Findings)
		fmt.Fprintln(stdout)
		if err := r.Write(stdout, doctor.FormatTable, color); err != nil {
			return 2
		}
	}
	if len(rep.Unanswered) > 0 {
		fmt.Fprintf(stdout, "\n== did not answer within the query timeout: %s\n", strings.Join(rep.Unanswered, ", "))
	}
	cr := doctor.Report{Findings: []doctor.Finding{}}
	for _, c := range rep.Cluster {
		cr.Findings = append(cr.Findings, doctor.Finding{Check: c.Name, Area: checks.AreaCluster, Status: c.Result.Status,
			Message: c.Result.Message, Details: c.Result.Details, Remedy: c.Result.Remedy, Host: "cluster"})
	}
	cr.Summary = doctor.Summarize(cr.Findings)
	fmt.Fprintf(stdout, "\nkuma-agent doctor: the cluster as a whole (%d members)\n", len(rep.Members))
	if err := cr.Write(stdout, doctor.FormatTable, color); err != nil {
		return 2
	}
	return rep.Status.ExitCode()
}
