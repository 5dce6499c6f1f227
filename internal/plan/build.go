package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
	"github.com/kuma-agent/kuma-agent/plugins"
)

// Plan is the set of checks that apply to this node, and why.
type Plan struct {
	Node          Node
	Cluster       *cluster.Cluster
	InventoryPath string
	Checks        []checks.Check
}

// BuiltinChecks names every built-in check, in report order. Plugins add
// "plugin:<file>" names.
var BuiltinChecks = []string{"inventory", "ntp", "machine-id", "hostname", "hosts", "dns", "addresses", "disk", "state", "ports", "reach", "etcd", "lb", "plugins", "resources", "certs"}

// layoutNeeds: the checks a layout calls for beyond the common ones.
// Acura requires working DNS (its Kubernetes and services look peers up
// by name) and runs in clouds where Ansible's address is often a floating
// one; KUMA's layouts rely on /etc/hosts (the hosts check) and give
// addresses on the node's LAN.
var layoutNeeds = map[cluster.Layout]struct{ dns, ownAddress bool }{
	cluster.LayoutAcura: {dns: true, ownAddress: true},
}

// LoadCluster reads the inventory at path; a missing file is (nil, nil):
// doctor still runs the node-local checks and says what it could not do.
func LoadCluster(path string) (*cluster.Cluster, error) {
	if path == "" {
		return nil, nil
	}
	c, err := inventory.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return c, err
}

// Selection filters checks by name: Only (if any) keeps just those, Skip
// drops those. "plugins" selects every plugin:* check.
type Selection struct {
	Only, Skip []string
}

// Validate rejects names that match no check, so a typo is not a silent
// "everything passed".
func (s Selection) Validate() error {
	for _, n := range append(slices.Clone(s.Only), s.Skip...) {
		if !slices.Contains(BuiltinChecks, n) && !strings.HasPrefix(n, "plugin:") {
			return fmt.Errorf("unknown check %q (known: %s, plugin:<file>)", n, strings.Join(BuiltinChecks, ", "))
		}
	}
	return nil
}

func (s Selection) wants(name string) bool {
	match := func(list []string) bool {
		return slices.Contains(list, name) || (strings.HasPrefix(name, "plugin:") && slices.Contains(list, "plugins"))
	}
	if len(s.Only) > 0 && !match(s.Only) {
		return false
	}
	return !match(s.Skip)
}

// Build decides which checks apply. cmd runs hostname/nginx; c and loadErr
// come from LoadCluster.
func Build(cfg config.Config, invPath string, c *cluster.Cluster, loadErr error, node Node, sel Selection, cmd checks.Commander) Plan {
	p := Plan{Node: node, Cluster: c, InventoryPath: invPath}
	add := func(ch checks.Check) {
		if sel.wants(ch.Name()) && !slices.Contains(cfg.Checks.Disabled, ch.Name()) {
			p.Checks = append(p.Checks, ch)
		}
	}
	add(inventoryCheck{path: invPath, cluster: c, loadErr: loadErr, node: node})
	add(&checks.NTP{
		Servers: cfg.Checks.NTP.Servers, ConfFiles: cfg.Paths.NTPConfFiles,
		Warn: cfg.Checks.NTP.WarnOffset, Crit: cfg.Checks.NTP.CritOffset, Timeout: cfg.Checks.NTP.Timeout,
	})
	add(&checks.MachineID{Files: cfg.Paths.MachineIDFiles})

	rule := cluster.NameNeedsDot
	expected := ""
	if c != nil {
		rule = c.Layout.NameRuleFor(node.Roles)
		if node.Self != nil {
			expected = node.Self.Name
		} else if h := c.HostFold(node.Name); h != nil {
			expected = h.Name // so the check names the case difference
		}
	}
	add(&checks.Hostname{
		Expected: expected, Rule: rule, IsCore: node.Roles.Any(cluster.Role.RaftMember) || node.Roles.Has(cluster.RoleCore),
		StaticFile: cfg.Paths.HostnameFile, Bin: cfg.Paths.HostnameBin, Cmd: cmd,
	})
	if c != nil {
		add(&checks.Hosts{File: cfg.Paths.HostsFile, Cluster: c})
	}
	if c != nil && layoutNeeds[c.Layout].dns {
		add(&checks.DNS{Cluster: c})
	}
	if c != nil && node.Self != nil && layoutNeeds[c.Layout].ownAddress {
		add(&checks.Addresses{Self: node.Self, Supplement: c.Source + inventory.SupplementSuffix})
	}
	add(&checks.Disk{
		Paths: cfg.Paths.DiskPaths, DataDirs: cfg.Paths.DataDirs,
		MinFree: uint64(cfg.Checks.Disk.MinFree), MinFreeInodesPercent: cfg.Checks.Disk.MinFreeInodesPercent,
	})
	add(resourcesCheck(cfg, node))
	add(&checks.Certs{
		// The agent's own TLS files: what it presents and trusts on its routes.
		AgentFiles: []string{cfg.Events.Embedded.RouteTLS.CertFile, cfg.Events.Embedded.RouteTLS.CAFile, cfg.Events.NATS.CertFile, cfg.Events.NATS.CAFile},
		ExtraPaths: cfg.Checks.Certs.ExtraPaths, Warn: cfg.Checks.Certs.Warn, Crit: cfg.Checks.Certs.Crit,
	})
	// The agent's own directory: writable, room for the outbox (the daemon
	// also gives it the outbox's health: Agent.New).
	minFree := uint64(1 << 20) // the serf snapshot
	if cfg.Events.Enabled {
		minFree = uint64(cfg.Events.Outbox.MaxBytes)
	}
	add(&checks.State{Dir: cfg.StateDir, MinFree: minFree})
	if c != nil && len(node.Roles) > 0 {
		self := node.Self
		if self == nil {
			self = &cluster.Host{Name: node.Name, Roles: node.Roles}
		} else if node.RolesFrom == "config" {
			cp := *self
			cp.Roles = node.Roles
			self = &cp
		}
		listen := cluster.ListenPorts(c.Layout, node.Roles, cfg.Checks.Ports.Overrides)
		etcdJudged := !slices.Contains(cfg.Checks.Disabled, "etcd")
		if node.Roles.Any(cluster.Role.EtcdMember) && sel.wants("etcd") && etcdJudged {
			// etcd's own ports are the etcd check's: it asks etcd, so a
			// stopped member is one etcd finding naming etcd's problem,
			// not also a ports finding.
			listen = slices.DeleteFunc(listen, etcdPort)
		}
		add(&checks.Ports{
			Listen: listen,
			Roles:  node.Roles, Addr: self.IP, ProcDir: cfg.Paths.ProcDir, Timeout: cfg.Checks.Ports.Timeout,
		})
		targets := cluster.ReachTargets(c, self, cfg.Checks.Ports.Overrides)
		if etcdJudged {
			// A peer's etcd ports are its etcd check's: a refusal there
			// proves the path open (the firewall question); whether etcd
			// runs is etcd's finding, not a missing listener's warning.
			for i, tg := range targets {
				if etcdPort(tg.Port) && tg.Host.Roles.Any(cluster.Role.EtcdMember) {
					targets[i].Listens = false
				}
			}
		}
		if len(targets) > 0 {
			add(&checks.Reach{Ports: checks.Ports{Targets: targets, Roles: node.Roles, Timeout: cfg.Checks.Ports.Timeout}})
		}
	}
	if node.Roles.Any(cluster.Role.EtcdMember) { // etcd runs on controllers only
		add(etcdCheck(cfg, c, node))
	}
	if c != nil && c.Layout == cluster.LayoutK0s && (node.Roles.Has(cluster.RoleWorker) || node.Roles.Has(cluster.RoleControllerWorker)) {
		add(&checks.LonghornPrereqs{ProcDir: cfg.Paths.ProcDir, NFSHelpers: checks.DefaultNFSHelpers, DataPath: cfg.Kubernetes.LonghornDataPath})
	}
	if c != nil && node.Roles.Has(cluster.RoleLB) {
		add(&checks.LB{Cluster: c, Overrides: cfg.Checks.Ports.Overrides, Bin: cfg.Paths.NginxBin, Conf: cfg.Paths.NginxConf, ModulesDir: cfg.Paths.NginxModulesDir, Cmd: cmd})
	}
	pl, err := plugins.Loader{Dir: cfg.PluginDir, Timeout: cfg.Checks.Plugins.Timeout}.Checks()
	if err != nil {
		add(errorCheck{name: "plugins", area: checks.AreaPlugin, res: checks.Unknownf(
			fmt.Sprintf("cannot list plugins in %s: %v", cfg.PluginDir, err), "check that plugin_dir in agent.yaml is a readable directory")})
	}
	for _, ch := range pl {
		add(ch)
	}
	return p
}

// errorCheck reports a problem found while building the plan.
type errorCheck struct {
	name string
	area checks.Area
	res  checks.Result
}

func (e errorCheck) Name() string                        { return e.name }
func (e errorCheck) Area() checks.Area                   { return e.area }
func (e errorCheck) Run(_ context.Context) checks.Result { return e.res }

// etcdPort tells etcd's own ports (peer and client), judged by the etcd
// check where it runs.
func etcdPort(p cluster.Port) bool {
	return p.Name == cluster.PortEtcdPeer.Name || p.Name == cluster.PortEtcdClient.Name
}
