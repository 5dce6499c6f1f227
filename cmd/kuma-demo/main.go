// Command kuma-demo (`make demo`) shows kuma-agent on a cluster that exists
// only on this machine: five KUMA hosts of a Raft-Core install on loopback
// addresses 127.0.77.x, each with its own /etc/hosts, machine-id, hostname
// and services (loopback listeners), two NTP servers (one skewed), and a few
// faults injected on purpose. It prints the inventory preflight and what
// `kuma-agent doctor` says on each node, then removes everything it made.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/cluster"
	"github.com/kuma-agent/kuma-agent/config"
	"github.com/kuma-agent/kuma-agent/doctor"
	"github.com/kuma-agent/kuma-agent/inventory"
	"github.com/kuma-agent/kuma-agent/ntpserver"
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

// fault is what the demo breaks on a node, so doctor has something to say.
type fault struct {
	servicesDown  bool     // its KUMA services "crashed": no listeners
	hostsMissing  []string // names left out of its /etc/hosts
	hostsWrong    []string // names mapped to a wrong address
	machineIDDiff bool     // /var/lib/dbus/machine-id disagrees
	skewedNTP     bool     // its NTP server runs 1.5 s ahead
}

var faults = map[string]fault{
	"kuma-core-3.demo.local":      {servicesDown: true},
	"kuma-collector-1.demo.local": {hostsMissing: []string{"kuma-core-3.demo.local"}, hostsWrong: []string{"kuma-core-2.demo.local"}},
	"kuma-storage-1.demo.local":   {machineIDDiff: true, skewedNTP: true},
}

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

	stop, err := startServices(c)
	defer stop()
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "== kuma-agent inventory check %s\n", filepath.Base(invPath))
	findings := inventory.Validate(c)
	fmt.Fprintf(out, "%s layout, %d hosts, %d findings\n", c.Layout, len(c.Hosts), len(findings))
	for _, f := range findings {
		fmt.Fprintf(out, "  %s %s: %s\n", f.Severity, f.Code, f.Message)
	}

	reports := map[string]doctor.Report{}
	for _, h := range c.Hosts {
		cfg, err := nodeConfig(dir, invPath, c, h, map[bool]string{false: good.Addr(), true: skewed.Addr()}[faults[h.Name].skewedNTP])
		if err != nil {
			return err
		}
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

// startServices opens a loopback listener for every port each healthy
// host's roles must listen on, standing in for KUMA Core, storage and so on.
func startServices(c *cluster.Cluster) (stop func(), err error) {
	var ls []io.Closer
	stop = func() {
		for _, l := range ls {
			l.Close()
		}
	}
	for _, h := range c.Hosts {
		if faults[h.Name].servicesDown {
			continue
		}
		for _, p := range cluster.ListenPorts(c.Layout, h.Roles, nil) {
			addr := net.JoinHostPort(h.Address, fmt.Sprint(p.Number))
			var l io.Closer
			if p.Proto == cluster.UDP {
				l, err = net.ListenPacket("udp", addr)
			} else {
				l, err = net.Listen("tcp", addr)
			}
			if err != nil {
				return stop, fmt.Errorf("demo service %s on %s: %w", p.Name, addr, err)
			}
			ls = append(ls, l)
		}
	}
	return stop, nil
}

// nodeConfig writes one node's files into the sandbox and returns the agent
// config that points at them.
func nodeConfig(dir, invPath string, c *cluster.Cluster, self *cluster.Host, ntpAddr string) (config.Config, error) {
	nd := filepath.Join(dir, "nodes", self.Name)
	if err := os.MkdirAll(filepath.Join(nd, "bin"), 0o755); err != nil {
		return config.Config{}, err
	}
	f := faults[self.Name]
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, h := range c.Hosts {
		switch {
		case slices.Contains(f.hostsMissing, h.Name):
		case slices.Contains(f.hostsWrong, h.Name):
			fmt.Fprintf(&hosts, "127.0.88.99\t%s\n", h.Name)
		default:
			fmt.Fprintf(&hosts, "%s\t%s\n", h.Address, h.Name)
		}
	}
	sum := sha256.Sum256([]byte(self.Name))
	id := hex.EncodeToString(sum[:16])
	dbusID := id
	if f.machineIDDiff {
		dbusID = strings.Repeat("ab", 16)
	}
	files := map[string]string{
		"hosts":           hosts.String(),
		"machine-id":      id + "\n",
		"dbus-machine-id": dbusID + "\n",
		"hostname":        self.Name + "\n",
		"bin/hostname":    "#!/bin/sh\necho " + self.Name + "\n",
	}
	for name, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(nd, name), []byte(content), mode); err != nil {
			return config.Config{}, err
		}
	}
	cfg := config.Default()
	cfg.NodeName = self.Name
	cfg.Inventory = invPath
	cfg.StateDir = filepath.Join(nd, "state")
	cfg.PluginDir = filepath.Join(nd, "plugins.d") // absent: no plugins
	cfg.Paths.HostsFile = filepath.Join(nd, "hosts")
	cfg.Paths.MachineIDFiles = []string{filepath.Join(nd, "machine-id"), filepath.Join(nd, "dbus-machine-id")}
	cfg.Paths.DiskPaths = []string{dir}
	cfg.Paths.DataDirs = nil
	cfg.Paths.HostnameFile = filepath.Join(nd, "hostname")
	cfg.Paths.HostnameBin = filepath.Join(nd, "bin", "hostname")
	cfg.Checks.NTP.Servers = []string{ntpAddr}
	// The sandbox shares this machine's disk; the demo asks for 1 GiB, not 32.
	cfg.Checks.Disk.MinFree = config.GiB
	return cfg, cfg.Validate()
}
