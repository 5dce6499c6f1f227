package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
)

// runUnits prints the supervisor's view through the control socket.
func runUnits(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var r control.UnitsReport
	format, code := callFormatted(ctx, "units", control.OpUnits, args, stdout, stderr, &r)
	if format != "table" {
		return code
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UNIT\tGROUP\tCONDITION\tSTATE\tATTEMPTS\tNOTE")
	for _, u := range r.Units {
		note := ""
		switch {
		case u.GaveUp:
			note = "gave up: " + u.Refusal
		case u.Healing:
			note = "healing now"
		case u.Refusal != "":
			note = "refused: " + u.Refusal
		case !u.NextAt.IsZero():
			note = "next attempt " + u.NextAt.Local().Format(time.TimeOnly)
		case u.Proposed:
			note = "proposed (dry-run)"
		}
		group := string(u.Group)
		if group == "" {
			group = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%d\t%s\n", u.Unit, group, u.Condition, u.Active, u.Sub, u.Attempts, note)
	}
	tw.Flush()
	if r.Raft != "" {
		fmt.Fprintf(stdout, "KUMA Core Raft state: %s\n", r.Raft)
	}
	if r.DryRun {
		fmt.Fprintln(stdout, "dry-run: actions are proposed as healing.proposed events, none is performed")
	}
	return 0
}
