package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/kuma-agent/kuma-agent/agent/control"
)

func membersCommand(o stdio) *command {
	var sh shared
	return &command{
		name:  "members",
		short: "list the agents of the mesh",
		usage: "kuma-agent members [--config FILE] [--format table|json] [--timeout D]",
		help: "Lists the agents of the mesh as the local agent sees them: address, status, roles, health.\n" +
			"A member marked (!) is not believed (not in the inventory, or not at its inventory address): it is\n" +
			"listed, and ignored for every decision. Names are printed escaped (\\n, \\x1b): what a member calls\n" +
			"itself cannot forge a row or colour the terminal.",
		flags: sh.agentFlags(tableOrJSON),
		exec: func(ctx context.Context, _ []string) error {
			var ms []control.MemberInfo
			if table, err := sh.fetch(ctx, o.out, control.OpMembers, &ms); !table {
				return err
			}
			tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tADDRESS\tSTATUS\tROLES\tHEALTH")
			var ignored []string
			for _, m := range ms {
				// Everything but the layout comes from the mesh: escaped.
				health := esc(m.Health)
				if len(m.Failing) > 0 {
					health += " (" + escJoin(m.Failing, ",") + ")"
				}
				if m.TagsError != "" {
					health = "? (" + line(m.TagsError) + ")"
				}
				name := esc(m.Name)
				if m.Ignored != "" {
					name += " (!)"
					ignored = append(ignored, line(m.Ignored))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, esc(m.Addr), esc(m.Status), escJoin(m.Roles, ","), health)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, why := range ignored {
				fmt.Fprintf(o.out, "(!) %s\n", why)
			}
			return nil
		},
	}
}

func leaveCommand(o stdio) *command {
	var sh shared
	return &command{
		name:  "leave",
		short: "leave the mesh for good (a restart is not a leave)",
		usage: "kuma-agent leave [--config FILE] [--timeout D]",
		help:  "Makes the running agent leave the mesh for good: the other agents list this node as left.",
		flags: sh.agentFlags(nil),
		exec: func(ctx context.Context, _ []string) error {
			if err := sh.call(ctx, control.OpLeave, nil, nil); err != nil {
				return err
			}
			_, err := fmt.Fprintln(o.out, "left the mesh for good; the other agents list this node as left. Stop the service: systemctl disable --now kuma-agent")
			return err
		},
	}
}
