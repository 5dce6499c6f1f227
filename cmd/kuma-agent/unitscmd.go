package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
)

func unitsCommand(o stdio) *command {
	var sh shared
	return &command{
		name:  "units",
		short: "the units this agent supervises and what it did about them",
		usage: "kuma-agent units [--config FILE] [--format table|json] [--timeout D]",
		help:  "Prints the supervisor's view through the control socket: each unit's condition, healing attempts, refusals.",
		flags: sh.agentFlags(tableOrJSON),
		exec: func(ctx context.Context, _ []string) error {
			var r control.UnitsReport
			if table, err := sh.fetch(ctx, o.out, control.OpUnits, &r); !table {
				return err
			}
			tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
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
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%d\t%s\n", esc(u.Unit), esc(group), esc(u.Condition), esc(u.Active), esc(u.Sub), u.Attempts, line(note))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if r.Raft != "" {
				fmt.Fprintf(o.out, "KUMA Core Raft state: %s\n", esc(r.Raft))
			}
			if r.DryRun {
				fmt.Fprintln(o.out, "dry-run: actions are proposed as healing.proposed events, none is performed")
			}
			return nil
		},
	}
}
