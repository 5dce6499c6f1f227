package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
)

const inventoryUsage = `usage: kuma-agent inventory check FILE [--format table|json]

Reads a KUMA installer inventory (YAML) or an Acura ha_env_file (INI) and
checks it against the HA rules. Exit status: 0 clean, 1 warnings, 2 errors
(or the file could not be read).
`

// inventoryFormats renders a report; table for people, json for scripts.
var inventoryFormats = map[string]func(io.Writer, inventoryReport) error{
	"table": writeInventoryTable,
	"json":  writeInventoryJSON,
}

// runInventory is the `inventory` subcommand; args follow the word
// "inventory" on the command line.
func runInventory(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, inventoryUsage)
			return 0
		}
		fmt.Fprint(stderr, inventoryUsage)
		return 2
	}
	file, format, code, ok := parseInventoryCheckArgs(args[1:], stdout, stderr)
	if !ok {
		return code
	}
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 2
	}
	c, err := inventory.Load(file)
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 2
	}
	findings := inventory.Validate(c)
	// Worst first; within a severity, rule order (stable sort).
	slices.SortStableFunc(findings, func(a, b inventory.Finding) int { return int(b.Severity - a.Severity) })
	if err := inventoryFormats[format](stdout, newInventoryReport(file, c, findings)); err != nil {
		fmt.Fprintf(stderr, "kuma-agent: writing report: %v\n", err)
		return 2
	}
	return inventory.ExitCode(findings)
}

// parseInventoryCheckArgs accepts flags before or after FILE, which the
// flag package alone does not (it stops at the first non-flag).
func parseInventoryCheckArgs(args []string, stdout, stderr io.Writer) (file, format string, code int, ok bool) {
	fs := flag.NewFlagSet("kuma-agent inventory check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), inventoryUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&format, "format", "table", "output format: table or json")
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return "", "", 0, false // flag printed the usage
			}
			return "", "", 2, false // flag already printed the error and usage
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(files) != 1:
		fmt.Fprintf(stderr, "kuma-agent inventory check: want exactly one FILE, got %d\n", len(files))
	case inventoryFormats[format] == nil:
		fmt.Fprintf(stderr, "kuma-agent inventory check: unknown --format %q (table or json)\n", format)
	default:
		return files[0], format, 0, true
	}
	fs.Usage()
	return "", "", 2, false
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

func writeInventoryJSON(w io.Writer, r inventoryReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func writeInventoryTable(w io.Writer, r inventoryReport) error {
	fmt.Fprintf(w, "%s: layout %s, %d hosts\n\n", r.File, r.Layout, len(r.Hosts))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tADDRESS\tROLES")
	for _, h := range r.Hosts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", h.Name, dash(h.Address), dash(strings.Join(h.Roles, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(r.Findings) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tCODE\tHOST\tMESSAGE\tREMEDY")
		for _, f := range r.Findings {
			host := dash(f.Host)
			if f.Line > 0 {
				host = fmt.Sprintf("%s (line %d)", f.Host, f.Line)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Code, host, f.Message, dash(f.Remedy))
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
