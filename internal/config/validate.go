package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

var logLevels = []string{"debug", "info", "warn", "error"}

// maxProcsLimit bounds agent.max_procs: a typo (10000) is caught, and no
// host the agent runs on has more CPUs than this.
const maxProcsLimit = 1024

// releaseExePagesMin bounds agent.release_exe_pages_every: each release
// makes the pages in use fault back, which is cheap once a minute and
// pointless more often.
const releaseExePagesMin = time.Minute

// gcPercentMin and gcPercentMax bound agent.gc_percent when set: under 10
// the collector runs nearly all the time; above 1000 the heap would grow
// more than elevenfold between collections.
const (
	gcPercentMin = 10
	gcPercentMax = 1000
)

// Validate checks values that decode fine but make no sense (for a Config
// built in code; Decode validates what it reads).
func (c *Config) Validate() error { return c.validate("config", yamlstrict.Index{}) }

// validate is Validate with name and idx locating the offending key in the
// file (the zero Index for values that came from no file: line 0).
func (c *Config) validate(name string, idx yamlstrict.Index) error {
	var errs Errors
	bad := func(key, format string, args ...any) {
		errs.Add(name, idx.Line(key), key, format, args...)
	}
	if c.NodeName != "" {
		if err := cluster.CheckHostName(c.NodeName); err != nil {
			bad("node_name", "%v (it names this node to the other agents and must be the inventory's name, as `hostname -f` prints it)", err)
		}
	}
	for i, r := range c.Roles {
		if _, err := cluster.ParseRole(string(r)); err != nil {
			bad(fmt.Sprintf("roles[%d]", i), "%v", err)
		}
	}
	if !slices.Contains(logLevels, c.LogLevel) {
		bad("log_level", "must be one of %v, not %q", logLevels, c.LogLevel)
	}
	for key, p := range map[string]string{
		"state_dir": c.StateDir, "plugin_dir": c.PluginDir,
		"paths.hosts_file": c.Paths.HostsFile, "paths.hostname_file": c.Paths.HostnameFile,
		"paths.nginx_conf": c.Paths.NginxConf, "paths.proc_dir": c.Paths.ProcDir,
	} {
		if p == "" || !filepath.IsAbs(p) {
			bad(key, "must be an absolute path, not %q", p)
		}
	}
	for key, list := range map[string][]string{
		"paths.machine_id_files": c.Paths.MachineIDFiles, "paths.disk_paths": c.Paths.DiskPaths,
		"paths.data_dirs": c.Paths.DataDirs, "paths.ntp_conf_files": c.Paths.NTPConfFiles,
	} {
		for i, p := range list {
			if !filepath.IsAbs(p) {
				bad(fmt.Sprintf("%s[%d]", key, i), "must be an absolute path, not %q", p)
			}
		}
	}
	c.validateSupervisor(bad)
	c.validateResources(bad)
	c.validateKubernetes(bad)
	if len(c.Paths.MachineIDFiles) == 0 {
		bad("paths.machine_id_files", "needs at least one file (the first is the primary machine-id)")
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "must be a positive duration such as 5s, not %v", d)
		}
	}
	positive("checks.interval", c.Checks.Interval)
	positive("checks.timeout", c.Checks.Timeout)
	positive("checks.ntp.warn_offset", c.Checks.NTP.WarnOffset)
	positive("checks.ntp.crit_offset", c.Checks.NTP.CritOffset)
	positive("checks.ntp.timeout", c.Checks.NTP.Timeout)
	positive("checks.ports.timeout", c.Checks.Ports.Timeout)
	positive("checks.plugins.timeout", c.Checks.Plugins.Timeout)
	if c.Checks.NTP.WarnOffset >= c.Checks.NTP.CritOffset {
		bad("checks.ntp.warn_offset", "must be less than checks.ntp.crit_offset (%v >= %v)", c.Checks.NTP.WarnOffset, c.Checks.NTP.CritOffset)
	}
	if c.Checks.Concurrency < 1 || c.Checks.Concurrency > 256 {
		bad("checks.concurrency", "must be between 1 and 256, not %d", c.Checks.Concurrency)
	}
	if c.Checks.FailuresBeforeWarning < 1 {
		bad("checks.failures_before_warning", "must be at least 1 (1 = report at once), not %d", c.Checks.FailuresBeforeWarning)
	}
	if c.Checks.FailuresBeforeCritical < c.Checks.FailuresBeforeWarning {
		bad("checks.failures_before_critical", "must be at least failures_before_warning (%d), not %d", c.Checks.FailuresBeforeWarning, c.Checks.FailuresBeforeCritical)
	}
	if p := c.Checks.Disk.MinFreeInodesPercent; p < 0 || p >= 100 {
		bad("checks.disk.min_free_inodes_percent", "must be between 0 and 100, not %v", p)
	}
	if err := c.Checks.Ports.Overrides.Validate(); err != nil {
		bad("checks.ports.overrides", "%v (see `kuma-agent config check` for the names)", err)
	}
	c.Checks.Etcd.validate(bad)
	positive("checks.clock_skew.warn", c.Checks.ClockSkew.Warn)
	positive("checks.clock_skew.crit", c.Checks.ClockSkew.Crit)
	if c.Checks.ClockSkew.Warn >= c.Checks.ClockSkew.Crit {
		bad("checks.clock_skew.warn", "must be less than checks.clock_skew.crit (%v >= %v)", c.Checks.ClockSkew.Warn, c.Checks.ClockSkew.Crit)
	}
	for name, d := range c.Checks.Intervals {
		positive("checks.intervals."+name, d)
	}
	if c.Checks.Jitter < 0 || c.Checks.Jitter > 0.5 {
		bad("checks.jitter", "must be between 0 and 0.5, not %v", c.Checks.Jitter)
	}
	if c.Mesh.Port < 1 || c.Mesh.Port > 65535 {
		bad("mesh.port", "must be between 1 and 65535, not %d", c.Mesh.Port)
	}
	for key, a := range map[string]string{"mesh.bind_addr": c.Mesh.BindAddr, "mesh.advertise_addr": c.Mesh.AdvertiseAddr} {
		if a != "" {
			if _, err := netip.ParseAddr(a); err != nil {
				bad(key, "must be an IP address, not %q", a)
			}
		}
	}
	if !slices.Contains([]string{"lan", "stock"}, c.Mesh.Profile) {
		bad("mesh.profile", "must be lan or stock, not %q", c.Mesh.Profile)
	}
	positive("mesh.query_timeout", c.Mesh.QueryTimeout)
	for key, p := range map[string]string{"agent.control_socket": c.Agent.ControlSocket, "mesh.keyring_file": c.Mesh.KeyringFile} {
		if !filepath.IsAbs(p) {
			bad(key, "must be an absolute path, not %q", p)
		}
	}
	if c.Agent.HTTPAddr != "" {
		if _, err := netip.ParseAddrPort(c.Agent.HTTPAddr); err != nil {
			bad("agent.http_addr", "must be IP:port (e.g. 127.0.0.1:9465) or empty, not %q", c.Agent.HTTPAddr)
		}
	}
	if c.Agent.MaxProcs < 0 || c.Agent.MaxProcs > maxProcsLimit {
		bad("agent.max_procs", "must be between 0 (one per CPU) and %d, not %d", maxProcsLimit, c.Agent.MaxProcs)
	}
	if c.Agent.GCPercent != 0 && (c.Agent.GCPercent < gcPercentMin || c.Agent.GCPercent > gcPercentMax) {
		bad("agent.gc_percent", "must be 0 (Go's default, 100) or between %d and %d, not %d", gcPercentMin, gcPercentMax, c.Agent.GCPercent)
	}
	if r := c.Agent.ReleaseExePagesEvery; r != 0 && r < releaseExePagesMin {
		bad("agent.release_exe_pages_every", "must be 0 (never) or at least %s, not %s", releaseExePagesMin, r)
	}
	if c.Events.Enabled {
		if c.Events.Cluster == "" || strings.ContainsAny(c.Events.Cluster, ".*> \t") {
			bad("events.cluster", "must be a non-empty name without dots, spaces, '*' or '>' (it is a NATS subject token), not %q", c.Events.Cluster)
		}
		if u := c.Events.NATS.URL; u != "" && !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
			bad("events.nats.url", "must start with nats:// or tls://, not %q", u)
		}
		for key, p := range map[string]int{"events.embedded.port": c.Events.Embedded.Port} {
			if p < 1 || p > 65535 {
				bad(key, "must be between 1 and 65535, not %d", p)
			}
		}
		if p := c.Events.Embedded.ClusterPort; p < 0 || p > 65535 {
			bad("events.embedded.cluster_port", "must be between 0 (no cluster) and 65535, not %d", p)
		}
		switch p := c.Events.Embedded.LeafPort; {
		case p < 1 || p > 65535:
			bad("events.embedded.leaf_port", "must be between 1 and 65535, not %d", p)
		case p == c.Events.Embedded.ClusterPort:
			bad("events.embedded.leaf_port", "must differ from events.embedded.cluster_port (both listen on the node's address), not %d", p)
		}
		if n := c.Events.Embedded.JetStreamServers; n < 0 || (n%2 == 0 && n != 0) {
			bad("events.embedded.jetstream_servers", "must be odd (1, 3, 5, ...: JetStream's Raft needs a majority) or 0 (every node), not %d", n)
		}
		if ip, err := netip.ParseAddr(c.Events.Embedded.Host); err != nil || !ip.IsLoopback() {
			bad("events.embedded.host", "must be a loopback address (clients connect locally; routes use the node's address), not %q", c.Events.Embedded.Host)
		}
		if t := c.Events.Embedded.RouteTLS; t != (RouteTLS{}) {
			validateRouteTLS(t, bad)
		}
		positive("events.stream.max_age", c.Events.Stream.MaxAge)
		if c.Events.Outbox.MaxBytes < MiB {
			bad("events.outbox.max_bytes", "must be at least 1MiB, not %v", c.Events.Outbox.MaxBytes)
		}
	}
	return errs.Err()
}

// validateRouteTLS: the three files together, as absolute paths; each
// complaint names the files given.
func validateRouteTLS(t RouteTLS, bad func(key, format string, args ...any)) {
	const p = "events.embedded.route_tls."
	files := []struct{ key, path string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"ca_file", t.CAFile}}
	var given []string
	for _, f := range files {
		if f.path != "" {
			given = append(given, fmt.Sprintf("%s %q", f.key, f.path))
		}
	}
	for _, f := range files {
		switch {
		case f.path == "":
			bad(p+f.key, "is required with %s: route TLS needs cert_file, key_file and ca_file together", strings.Join(given, ", "))
		case !filepath.IsAbs(f.path):
			bad(p+f.key, "must be an absolute path, not %q", f.path)
		}
	}
}
