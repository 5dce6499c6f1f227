package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
)

// inventoryFormats renders a report; table for people, json for scripts.
var inventoryFormats = map[string]func(io.Writer, inventoryReport) error{
	"table": writeInventoryTable,
	"json":  writeInventoryJSON,
}

func inventoryCommand(o stdio) *command {
	var sh shared
	return &command{
		name:     "inventory",
		short:    "check a KUMA inventory or Acura ha_env_file before installing",
		usage:    "kuma-agent inventory check FILE [--format table|json]",
		withArgs: true,
		help: "Reads a KUMA installer inventory (YAML) or an Acura ha_env_file (INI) and\n" +
			"checks it against the HA rules. Exit status: 0 clean, 1 warnings, 2 errors\n" +
			"(or the file could not be read).",
		flags: func(fs *flag.FlagSet) { sh.register(fs, "", tableOrJSON, 0) },
		exec: func(ctx context.Context, args []string) error {
			if len(args) == 0 || args[0] != "check" {
				return usagef("want the subcommand check")
			}
			if len(args) != 2 {
				return usagef("want exactly one FILE, got %d", len(args)-1)
			}
			file := args[1]
			if err := ctx.Err(); err != nil {
				return exitWith(2, err)
			}
			c, err := inventory.Load(file)
			if err != nil {
				return exitWith(2, err)
			}
			findings := inventory.Validate(c)
			// Worst first; within a severity, rule order (stable sort).
			slices.SortStableFunc(findings, func(a, b inventory.Finding) int { return int(b.Severity - a.Severity) })
			if err := inventoryFormats[sh.format](o.out, newInventoryReport(file, c, findings)); err != nil {
				return exitWith(2, fmt.Errorf("writing report: %w", err))
			}
			return exitWith(inventory.ExitCode(findings), nil)
		},
	}
}

// inventoryReport is the JSON shape of a check; the table shows the same.
type inventoryReport struct {
	File     string              `json:"file"`
	Layout   cluster.Layout      `json:"layout"`
	Hosts    []inventoryHost     `json:"hosts"`
	Findings []inventory.Finding `json:"findings"`
	Summary  inventorySummary    `json:"summary"`
}

type inventoryHost struct {
	Name    string   `json:"name"`
	Address string   `json:"address"`
	Roles   []string `json:"roles"`
	Groups  []string `json:"groups"`
	Line    int      `json:"line,omitempty"`
}

type inventorySummary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Info     int `json:"info"`
}

func newInventoryReport(file string, c *cluster.Cluster, findings []inventory.Finding) inventoryReport {
	r := inventoryReport{File: file, Layout: c.Layout, Hosts: []inventoryHost{}, Findings: findings}
	if r.Findings == nil {
		r.Findings = []inventory.Finding{}
	}
	for _, h := range c.Hosts {
		roles := make([]string, 0, len(h.Roles))
		for _, ro := range h.Roles {
			roles = append(roles, string(ro))
		}
		groups := append([]string{}, h.Groups...)
		r.Hosts = append(r.Hosts, inventoryHost{Name: h.Name, Address: h.Address, Roles: roles, Groups: groups, Line: h.Line})
	}
	counts := map[inventory.Severity]*int{inventory.Error: &r.Summary.Errors,
		inventory.Warning: &r.Summary.Warnings, inventory.Info: &r.Summary.Info}
	for _, f := range findings {
		if n := counts[f.Severity]; n != nil {
			*n++
		}
	}
	return r
}

func writeInventoryJSON(w io.Writer, r inventoryReport) error { return writeJSON(w, r) }

func writeInventoryTable(w io.Writer, r inventoryReport) error {
	fmt.Fprintf(w, "%s: layout %s, %d hosts\n\n", esc(r.File), r.Layout, len(r.Hosts))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tADDRESS\tROLES")
	for _, h := range r.Hosts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", esc(h.Name), dash(esc(h.Address)), dash(escJoin(h.Roles, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(r.Findings) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tCODE\tHOST\tMESSAGE\tREMEDY")
		for _, f := range r.Findings {
			host := dash(esc(f.Host))
			if f.Line > 0 {
				host = fmt.Sprintf("%s (line %d)", esc(f.Host), f.Line)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Code, host, line(f.Message), dash(line(f.Remedy)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintf(w, "%d errors, %d warnings, %d info\n", r.Summary.Errors, r.Summary.Warnings, r.Summary.Info)
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
