// Package sandbox lays out a node of a cluster in a directory: its
// /etc/hosts, machine-id files, static hostname and a `hostname` program,
// plus the agent config that points at them, and loopback listeners standing
// in for its services. The demo and the end-to-end tests of doctor use it to
// run real checks for several "hosts" on one machine, with faults injected.
package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/agent/mesh"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
)

// Fault is what to break on a node so the checks have something to find.
type Fault struct {
	ServicesDown  bool     // no listeners for its roles' ports
	HostsMissing  []string // names left out of its hosts file
	HostsWrong    []string // names mapped to a wrong address (127.0.88.99)
	MachineIDDiff bool     // the second machine-id file disagrees
	MachineIDOf   string   // a clone: use this other host's machine-id
	Hostname      string   // what its `hostname -f` prints instead of its name
	// MemTotalKiB is the RAM its /proc/meminfo reports (0: 32 GiB), so a
	// node below a role's minimum can be made.
	MemTotalKiB uint64
}

// MachineID is the id the sandbox gives a host: stable, unique per name.
func MachineID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:16])
}

// WriteNode writes self's files under dir/nodes/<name> and returns a config
// (over config.Default) whose paths point at them. The caller sets what
// depends on the environment: NTP servers, disk thresholds.
func WriteNode(dir, invPath string, c *cluster.Cluster, self *cluster.Host, f Fault) (config.Config, error) {
	nd := filepath.Join(dir, "nodes", self.Name)
	for _, d := range []string{"bin", "proc"} {
		if err := os.MkdirAll(filepath.Join(nd, d), 0o755); err != nil {
			return config.Config{}, err
		}
	}
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, h := range c.Hosts {
		switch {
		case slices.Contains(f.HostsMissing, h.Name):
		case slices.Contains(f.HostsWrong, h.Name):
			fmt.Fprintf(&hosts, "127.0.88.99\t%s\n", h.Name)
		default:
			fmt.Fprintf(&hosts, "%s\t%s\n", h.Address, h.Name)
		}
	}
	id := MachineID(self.Name)
	if f.MachineIDOf != "" {
		id = MachineID(f.MachineIDOf)
	}
	dbusID := id
	if f.MachineIDDiff {
		dbusID = strings.Repeat("ab", 16)
	}
	fqdn := self.Name
	if f.Hostname != "" {
		fqdn = f.Hostname
	}
	files := []struct {
		name, content string
		mode          os.FileMode
	}{
		{"hosts", hosts.String(), 0o644},
		{"machine-id", id + "\n", 0o444},
		{"dbus-machine-id", dbusID + "\n", 0o444},
		{"hostname", self.Name + "\n", 0o644},
		{"bin/hostname", "#!/bin/sh\necho '" + strings.ReplaceAll(fqdn, "'", "") + "'\n", 0o755},
	}
	files = append(files, procFiles(f.MemTotalKiB)...)
	for _, fl := range files {
		if err := os.WriteFile(filepath.Join(nd, fl.name), []byte(fl.content), fl.mode); err != nil {
			return config.Config{}, err
		}
	}
	cfg := config.Default()
	cfg.NodeName = self.Name
	cfg.Inventory = invPath
	cfg.StateDir = filepath.Join(nd, "state")
	cfg.PluginDir = filepath.Join(nd, "plugins.d") // absent unless the caller makes it
	cfg.Paths.HostsFile = filepath.Join(nd, "hosts")
	cfg.Paths.MachineIDFiles = []string{filepath.Join(nd, "machine-id"), filepath.Join(nd, "dbus-machine-id")}
	cfg.Paths.DiskPaths = []string{dir}
	cfg.Paths.DataDirs = nil
	cfg.Paths.HostnameFile = filepath.Join(nd, "hostname")
	cfg.Paths.HostnameBin = filepath.Join(nd, "bin", "hostname")
	// Memory, CPUs and load are the sandbox's, not this busy machine's.
	cfg.Checks.Resources.ProcDir = filepath.Join(nd, "proc")
	// The daemon's interfaces: a socket per node, HTTP and gossip on the
	// node's own address, one keyring for the whole sandbox.
	cfg.Agent.ControlSocket = filepath.Join(nd, "control.sock")
	cfg.Agent.HTTPAddr = net.JoinHostPort(self.Address, "9465")
	cfg.Mesh.KeyringFile = filepath.Join(dir, "gossip.keyring")
	// Each node's NATS client listener on its own (loopback) address, so
	// several nodes share this machine; routes need WriteKeyring's password.
	if self.IP.IsLoopback() {
		cfg.Events.Embedded.Host = self.Address
	}
	cfg.Events.Embedded.RoutePasswordFile = filepath.Join(dir, "nats-route.password")
	// Sandbox hosts share this machine's init system (if any): supervising
	// it would act on the machine. Supervision is tested on nspawn hosts.
	cfg.Supervisor.Enabled = false
	return cfg, nil
}

// WriteKeyring creates dir/gossip.keyring with a fresh key and
// dir/nats-route.password (the files the configs of WriteNode point at) and
// returns the keyring's path.
func WriteKeyring(dir string) (string, error) {
	k, err := mesh.GenerateKey()
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "nats-route.password"), []byte(MachineID(k)+"\n"), 0o600); err != nil {
		return "", err
	}
	p := filepath.Join(dir, "gossip.keyring")
	return p, os.WriteFile(p, []byte(`["`+k+`"]`+"\n"), 0o600)
}

// Services holds the listeners that stand in for the hosts' services.
type Services struct {
	ls []io.Closer
}

// StartServices listens on every port each host's roles must listen on, at
// the host's address, except for hosts down() says are down.
func StartServices(c *cluster.Cluster, down func(*cluster.Host) bool) (*Services, error) {
	s := &Services{}
	for _, h := range c.Hosts {
		if down != nil && down(h) {
			continue
		}
		for _, p := range cluster.ListenPorts(c.Layout, h.Roles, nil) {
			addr := net.JoinHostPort(h.Address, fmt.Sprint(p.Number))
			var (
				l   io.Closer
				err error
			)
			if p.Proto == cluster.UDP {
				l, err = net.ListenPacket("udp", addr)
			} else {
				l, err = net.Listen("tcp", addr)
			}
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("stand-in for %s on %s: %w", p.Name, addr, err)
			}
			s.ls = append(s.ls, l)
		}
	}
	return s, nil
}

// Close stops every listener.
func (s *Services) Close() {
	for _, l := range s.ls {
		l.Close()
	}
	s.ls = nil
}
