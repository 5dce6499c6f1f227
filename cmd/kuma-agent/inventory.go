package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
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
		verbs:    []string{"check"},
		help: "Reads a KUMA installer inventory (YAML) or an Acura ha_env_file (INI) as\n" +
			"Ansible reads it and checks it against the HA rules. Exit status: 0 clean\n" +
			"or info only, 1 warnings, 2 errors (or the file could not be read; with\n" +
			"--format json the report says why).",
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
				if sh.format == "json" {
					if werr := writeInventoryJSON(o.out, unreadableReport(file, err)); werr != nil {
						return exitWith(2, fmt.Errorf("writing report: %w", werr))
					}
				}
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
// A file that could not be read has no layout and no hosts, its problems
// as error findings and the whole error in Error.
type inventoryReport struct {
	File     string              `json:"file"`
	Layout   cluster.Layout      `json:"layout"`
	Hosts    []inventoryHost     `json:"hosts"`
	Findings []inventory.Finding `json:"findings"`
	Summary  inventorySummary    `json:"summary"`
	Error    string              `json:"error,omitempty"`
}

type inventoryHost struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// PublicAddress is Ansible's address where the node's own differs
	// (Acura's internal_address): shown, never used by the cluster.
	PublicAddress string   `json:"public_address,omitempty"`
	Roles         []string `json:"roles"`
	Groups        []string `json:"groups"`
	Line          int      `json:"line,omitempty"`
}

type inventorySummary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Info     int `json:"info"`
}

func newInventoryReport(file string, c *cluster.Cluster, findings []inventory.Finding) inventoryReport {
	r := inventoryReport{File: file, Hosts: []inventoryHost{}, Findings: findings}
	if r.Findings == nil {
		r.Findings = []inventory.Finding{}
	}
	if c == nil {
		c = &cluster.Cluster{}
	}
	r.Layout = c.Layout
	for _, h := range c.Hosts {
		roles := make([]string, 0, len(h.Roles))
		for _, ro := range h.Roles {
			roles = append(roles, string(ro))
		}
		groups := append([]string{}, h.Groups...)
		r.Hosts = append(r.Hosts, inventoryHost{Name: h.Name, Address: h.Address, PublicAddress: h.PublicAddress, Roles: roles, Groups: groups, Line: h.Line})
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

// unreadableReport is the report on a file Load refused: each located
// problem an error finding (unreadable: the file could not be read;
// invalid-inventory: it was read but holds nothing to check).
func unreadableReport(file string, err error) inventoryReport {
	var findings []inventory.Finding
	var located yamlstrict.Errors
	if errors.As(err, &located) {
		for _, e := range located {
			code := "invalid-inventory"
			var pathErr *fs.PathError
			if errors.Is(e, yamlstrict.ErrTooLarge) || errors.Is(e, yamlstrict.ErrNotRegular) || errors.As(e, &pathErr) {
				code = "unreadable"
			}
			msg := e.Msg
			if e.Key != "" {
				msg = e.Key + ": " + msg
			}
			findings = append(findings, inventory.Finding{Severity: inventory.Error, Code: code, Message: msg, Line: e.Line,
				Remedy: "fix the file, or name the inventory the KUMA installer used"})
		}
	} else {
		findings = []inventory.Finding{{Severity: inventory.Error, Code: "unreadable", Message: err.Error(),
			Remedy: "check the path and the file's permissions"}}
	}
	r := newInventoryReport(file, nil, findings)
	r.Error = err.Error()
	return r
}

func writeInventoryJSON(w io.Writer, r inventoryReport) error { return writeJSON(w, r) }

// tableWidth is what the table fits in, wrapping messages and host lists.
const tableWidth = 100

func writeInventoryTable(w io.Writer, r inventoryReport) error {
	fmt.Fprintf(w, "%s: layout %s, %d hosts\n\n", esc(r.File), r.Layout, len(r.Hosts))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tADDRESS\tROLES")
	for _, h := range r.Hosts {
		addr := esc(h.Address)
		if h.PublicAddress != "" {
			addr += " (public " + esc(h.PublicAddress) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", esc(h.Name), dash(addr), dash(escJoin(h.Roles, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(r.Findings) > 0 {
		if err := writeFindings(w, groupFindings(r.Findings)); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintf(w, "%d errors, %d warnings, %d info\n", r.Summary.Errors, r.Summary.Warnings, r.Summary.Info)
	return err
}

// findingGroup is one cause found on one or more hosts: one table row.
type findingGroup struct {
	inventory.Finding
	where []string // "host (line N)", or "line N" for a finding about no host
}

// groupFindings merges findings that differ only in host and line, in
// the order of their first appearance.
func groupFindings(fs []inventory.Finding) []findingGroup {
	type key struct {
		sev                   inventory.Severity
		code, message, remedy string
	}
	var out []findingGroup
	at := map[key]int{}
	for _, f := range fs {
		k := key{f.Severity, f.Code, f.Message, f.Remedy}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, findingGroup{Finding: f})
		}
		switch {
		case f.Host != "" && f.Line > 0:
			out[i].where = append(out[i].where, fmt.Sprintf("%s (line %d)", esc(f.Host), f.Line))
		case f.Host != "":
			out[i].where = append(out[i].where, esc(f.Host))
		case f.Line > 0:
			out[i].where = append(out[i].where, fmt.Sprintf("line %d", f.Line))
		}
	}
	return out
}

// writeFindings prints one block per group: severity and code, then the
// hosts (or line), the message and the fix, wrapped in the text column.
func writeFindings(w io.Writer, groups []findingGroup) error {
	codeW := len("CODE")
	for _, g := range groups {
		codeW = max(codeW, len(g.Code))
	}
	sevW := len("warning") + 2
	indent := sevW + codeW + 2
	width := max(tableWidth-indent, 30)
	pad := strings.Repeat(" ", indent)
	if _, err := fmt.Fprintf(w, "%-*s%-*s%s\n", sevW, "SEVERITY", codeW+2, "CODE", "WHERE, WHAT, FIX"); err != nil {
		return err
	}
	for _, g := range groups {
		var lines []string
		if len(g.where) > 0 {
			lines = append(lines, wrapItems(g.where, width)...)
		}
		lines = append(lines, wrap(esc(g.Message), width)...)
		if g.Remedy != "" {
			lines = append(lines, wrap("fix: "+esc(g.Remedy), width)...)
		}
		for i, l := range lines {
			prefix := pad
			if i == 0 {
				prefix = fmt.Sprintf("%-*s%-*s", sevW, g.Severity, codeW+2, g.Code)
			}
			if _, err := fmt.Fprintln(w, strings.TrimRight(prefix+l, " ")); err != nil {
				return err
			}
		}
	}
	return nil
}

// wrapItems lists items separated by ", " in lines of at most width
// columns, never breaking an item.
func wrapItems(items []string, width int) []string {
	words := make([]string, len(items))
	for i, it := range items {
		if i < len(items)-1 {
			it += ","
		}
		words[i] = it
	}
	return fill(words, width)
}

// wrap breaks s into lines of at most width columns at spaces; a word
// longer than width gets a line of its own.
func wrap(s string, width int) []string { return fill(strings.Fields(s), width) }

// fill puts words on lines of at most width columns, one space apart; a
// word longer than width gets a line of its own. No words is one empty line.
func fill(words []string, width int) []string {
	var lines []string
	line := ""
	for _, it := range words {
		switch {
		case line == "":
			line = it
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(it) <= width:
			line += " " + it
		default:
			lines = append(lines, line)
			line = it
		}
	}
	return append(lines, line)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
