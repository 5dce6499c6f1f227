package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/agent/mesh"
	"github.com/kuma-agent/kuma-agent/internal/config"
)

// clientFlags are the flags every command talking to the daemon shares.
type clientFlags struct {
	cfgPath string
	timeout time.Duration
	fset    *flag.FlagSet
}

func newClientFlags(name string, stderr io.Writer) *clientFlags {
	c := &clientFlags{fset: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.fset.SetOutput(stderr)
	c.fset.StringVar(&c.cfgPath, "config", config.DefaultPath, "agent config file (for the control socket's path)")
	c.fset.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for the agent")
	return c
}

// call sends op to the running agent.
func (c *clientFlags) call(ctx context.Context, op string, args, out any) error {
	cfg, err := loadConfig(c.cfgPath, flagSet(c.fset, "config"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return control.Call(ctx, cfg.Agent.ControlSocket, op, args, out)
}

func runMembers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var ms []control.MemberInfo
	format, code := callFormatted(ctx, "members", control.OpMembers, args, stdout, stderr, &ms)
	if format != "table" {
		return code
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATUS\tROLES\tHEALTH")
	for _, m := range ms {
		health := m.Health
		if len(m.Failing) > 0 {
			health += " (" + strings.Join(m.Failing, ",") + ")"
		}
		if m.TagsError != "" {
			health = "? (" + m.TagsError + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.Addr, m.Status, strings.Join(m.Roles, ","), health)
	}
	tw.Flush()
	return 0
}

func runLeave(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newClientFlags("leave", stderr)
	if err := c.fset.Parse(args); err != nil || c.fset.NArg() > 0 {
		return 2
	}
	if err := c.call(ctx, control.OpLeave, nil, nil); err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "left the mesh for good; the other agents list this node as left. Stop the service: systemctl disable --now kuma-agent")
	return 0
}

func runKeygen(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "Usage: kuma-agent keygen > /etc/kuma-agent/gossip.keyring\n\nPrints a new keyring file holding one random 32-byte gossip key. Copy the same\nfile to every node (mode 0600). To rotate keys in a running cluster use `kuma-agent keyring`.")
		return 2
	}
	k, err := mesh.GenerateKey()
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 1
	}
	b, _ := json.Marshal([]string{k})
	fmt.Fprintln(stdout, string(b))
	return 0
}

func runKeyring(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	usage := "Usage: kuma-agent keyring list | install KEY | use KEY | remove KEY\n\nRotates the gossip key on every node: install the new key, use it (make it primary),\nthen remove the old one. New keys come from `kuma-agent keygen`."
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	ops := map[string]string{"list": control.OpKeyringList, "install": control.OpKeyringInstall, "use": control.OpKeyringUse, "remove": control.OpKeyringRemove}
	op, ok := ops[args[0]]
	if !ok {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	c := newClientFlags("keyring "+args[0], stderr)
	if err := c.fset.Parse(args[1:]); err != nil {
		return 2
	}
	var req any
	if args[0] != "list" {
		if c.fset.NArg() != 1 {
			fmt.Fprintln(stderr, usage)
			return 2
		}
		key := strings.TrimSpace(c.fset.Arg(0))
		// Accept the keygen file form too: ["base64"].
		var list []string
		if json.Unmarshal([]byte(key), &list) == nil && len(list) == 1 {
			key = list[0]
		}
		if _, err := mesh.DecodeKey(key); err != nil {
			fmt.Fprintf(stderr, "kuma-agent keyring: %v\n", err)
			return 2
		}
		req = control.KeyArgs{Key: key}
	}
	var st mesh.KeyringStatus
	if err := c.call(ctx, op, req, &st); err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(st)
	return 0
}

// callFormatted parses a --format table|json client command, calls op
// into out and, for json, prints it. It returns the format ("" on error)
// and the exit code when the caller has nothing more to print.
func callFormatted(ctx context.Context, name, op string, args []string, stdout, stderr io.Writer, out any) (string, int) {
	c := newClientFlags(name, stderr)
	format := c.fset.String("format", "table", "table or json")
	if err := c.fset.Parse(args); err != nil || c.fset.NArg() > 0 {
		return "", 2
	}
	if *format != "table" && *format != "json" {
		fmt.Fprintf(stderr, "kuma-agent %s: unknown --format %q (table or json)\n", name, *format)
		return "", 2
	}
	if err := c.call(ctx, op, nil, out); err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return "", 1
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	}
	return *format, 0
}
