// Command kuma-demo (`make demo`) shows kuma-agent on a cluster that exists
// only on this machine: five KUMA hosts of a Raft-Core install on loopback
// addresses 127.0.77.x, each with its own /etc/hosts, machine-id, hostname
// and services (loopback listeners), two NTP servers (one skewed), and a few
// faults injected on purpose. It prints the inventory preflight and what
// `kuma-agent doctor` says on each node, then removes everything it made.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/cluster"
	"github.com/kuma-agent/kuma-agent/config"
	"github.com/kuma-agent/kuma-agent/doctor"
	"github.com/kuma-agent/kuma-agent/inventory"
	"github.com/kuma-agent/kuma-agent/ntpserver"
	"github.com/kuma-agent/kuma-agent/sandbox"
)

const inventoryYAML = `# kuma-demo: KUMA 4.0 distributed install, Core in a 3-node Raft cluster.
all:
  vars:
    deploy_to_k8s: false
kuma:
  vars:
    ansible_user: root
  children:
    kuma_core:
      hosts:
        kuma-core-1.demo.local:
          ip: 127.0.77.1
          raft_node_addr: "kuma-core-1.demo.local:7209"
    kuma_core_peers:
      hosts:
        kuma-core-2.demo.local:
          ip: 127.0.77.2
        kuma-core-3.demo.local:
          ip: 127.0.77.3
    kuma_collector:
      hosts:
        kuma-collector-1.demo.local:
          ip: 127.0.77.11
    kuma_storage:
      hosts:
        kuma-storage-1.demo.local:
          ip: 127.0.77.21
`

// faults are what the demo breaks, so doctor has something to say.
var faults = map[string]sandbox.Fault{
	"kuma-core-3.demo.local":      {ServicesDown: true},
	"kuma-collector-1.demo.local": {HostsMissing: []string{"kuma-core-3.demo.local"}, HostsWrong: []string{"kuma-core-2.demo.local"}},
	"kuma-storage-1.demo.local":   {MachineIDDiff: true},
}

// skewedNTP names the node whose NTP server runs 1.5 s ahead.
const skewedNTP = "kuma-storage-1.demo.local"

func main() {
	keep := flag.Bool("keep", false, "keep the sandbox directory and print its path")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "kuma-demo: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, keep bool) error {
	dir, err := os.MkdirTemp("", "kuma-demo-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(out, "sandbox: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	invPath := filepath.Join(dir, "inventory.yml")
	if err := os.WriteFile(invPath, []byte(inventoryYAML), 0o644); err != nil {
		return err
	}
	c, err := inventory.Load(invPath)
	if err != nil {
		return err
	}

	good, err := ntpserver.Listen("127.0.0.1:0", 4*time.Millisecond, 2)
	if err != nil {
		return fmt.Errorf("NTP server: %w", err)
	}
	defer good.Close()
	skewed, err := ntpserver.Listen("127.0.0.1:0", 1500*time.Millisecond, 2)
	if err != nil {
		return fmt.Errorf("NTP server: %w", err)
	}
	defer skewed.Close()

	svc, err := sandbox.StartServices(c, func(h *cluster.Host) bool { return faults[h.Name].ServicesDown })
	if err != nil {
		return err
	}
	defer svc.Close()

	fmt.Fprintf(out, "== kuma-agent inventory check %s\n", filepath.Base(invPath))
	findings := inventory.Validate(c)
	fmt.Fprintf(out, "%s layout, %d hosts, %d findings\n", c.Layout, len(c.Hosts), len(findings))
	for _, f := range findings {
		fmt.Fprintf(out, "  %s %s: %s\n", f.Severity, f.Code, f.Message)
	}

	reports := map[string]doctor.Report{}
	for _, h := range c.Hosts {
		cfg, err := sandbox.WriteNode(dir, invPath, c, h, faults[h.Name])
		if err != nil {
			return err
		}
		cfg.Checks.NTP.Servers = []string{good.Addr()}
		if h.Name == skewedNTP {
			cfg.Checks.NTP.Servers = []string{skewed.Addr()}
		}
		// The sandbox shares this machine's disk: ask for 1 GiB, not 32.
		cfg.Checks.Disk.MinFree = config.GiB
		node, err := doctor.ResolveNode(ctx, cfg, c, checks.ExecCommander{})
		if err != nil {
			return err
		}
		plan := doctor.Build(cfg, invPath, c, nil, node, doctor.Selection{}, checks.ExecCommander{})
		reports[h.Name] = doctor.Run(ctx, plan, checks.Runner{Timeout: cfg.Checks.Timeout, Concurrency: cfg.Checks.Concurrency})
	}
	for _, name := range []string{"kuma-core-1.demo.local", "kuma-collector-1.demo.local"} {
		fmt.Fprintf(out, "\n== kuma-agent doctor   (on %s)\n", name)
		if err := reports[name].Write(out, doctor.FormatTable, false); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\n== kuma-agent doctor --format nagios   (every node)\n")
	for _, h := range c.Hosts {
		if err := reports[h.Name].Write(out, doctor.FormatNagios, false); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "\nThe faults were injected on purpose: kuma-core-3's services are down, kuma-collector-1's /etc/hosts\n"+
		"lacks one host and maps another wrongly, kuma-storage-1 has disagreeing machine-ids and a skewed NTP server.")
	return nil
}
