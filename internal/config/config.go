// Package config holds the agent's configuration: its schema with defaults
// (Default), strict decoding that names file, line and key on error (Load,
// Decode), and validation of values.
package config

import (
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// DefaultPath is where packages install the config.
const DefaultPath = "/etc/kuma-agent/agent.yaml"

// Config is agent.yaml. Every path a check reads is here so that tests and
// unusual hosts can point elsewhere.
type Config struct {
	// NodeName is this node's inventory name; empty means `hostname -f`.
	NodeName string `yaml:"node_name" json:"node_name"`
	// Roles overrides the roles the inventory gives this node.
	Roles []cluster.Role `yaml:"roles" json:"roles"`
	// Inventory is the KUMA inventory (YAML) or Acura ha_env_file (INI).
	Inventory string `yaml:"inventory" json:"inventory"`
	// StateDir holds the agent's state (mesh snapshot, outbox).
	StateDir string `yaml:"state_dir" json:"state_dir"`
	// PluginDir holds executable check plugins; it must be root-owned.
	PluginDir string `yaml:"plugin_dir" json:"plugin_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level" json:"log_level"`

	Paths  Paths  `yaml:"paths" json:"paths"`
	Checks Checks `yaml:"checks" json:"checks"`
	Agent  Agent  `yaml:"agent" json:"agent"`
	Mesh   Mesh   `yaml:"mesh" json:"mesh"`
	Events Events `yaml:"events" json:"events"`
	// Supervisor watches this node's KUMA/k0s units and heals them.
	Supervisor Supervisor `yaml:"supervisor" json:"supervisor"`
	// Kubernetes is what the evaluator reads from the Kubernetes API (k0s,
	// Acura) and the opt-in Core failover.
	Kubernetes Kubernetes `yaml:"kubernetes" json:"kubernetes"`
}

// Events configures publishing to NATS: an embedded server clustered with
// the other agents' (default), or an external one.
type Events struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Cluster names this cluster in subjects: kuma.<cluster>.<node>.<type>.
	Cluster  string       `yaml:"cluster" json:"cluster"`
	NATS     NATSClient   `yaml:"nats" json:"nats"`
	Embedded EmbeddedNATS `yaml:"embedded" json:"embedded"`
	Stream   EventStream  `yaml:"stream" json:"stream"`
	Outbox   EventOutbox  `yaml:"outbox" json:"outbox"`
}

// NATSClient points at an external NATS; an empty URL means the embedded server.
type NATSClient struct {
	URL          string `yaml:"url" json:"url"`
	User         string `yaml:"user" json:"user"`
	PasswordFile string `yaml:"password_file" json:"password_file"`
	CredsFile    string `yaml:"creds_file" json:"creds_file"`
	NKeyFile     string `yaml:"nkey_file" json:"nkey_file"`
	CAFile       string `yaml:"ca_file" json:"ca_file"`
	CertFile     string `yaml:"cert_file" json:"cert_file"`
	KeyFile      string `yaml:"key_file" json:"key_file"`
}

// EmbeddedNATS is the server each agent runs when NATS.URL is empty. Its
// client port stays on loopback. On the JetStream hubs (the first
// JetStreamServers inventory hosts with an address) it runs JetStream,
// routed to the other hubs; on the other nodes it is a leaf node without
// JetStream, connected to a hub. Routes and leaf connections use the
// node's address and are authenticated.
type EmbeddedNATS struct {
	// Host is the client listener: a loopback address (clients are local).
	Host        string `yaml:"host" json:"host"`
	Port        int    `yaml:"port" json:"port"`
	ClusterPort int    `yaml:"cluster_port" json:"cluster_port"`
	// LeafPort is the hubs' leafnode listener (the other nodes connect to
	// it), on the node's address.
	LeafPort int `yaml:"leaf_port" json:"leaf_port"`
	// JetStreamServers is the number of hubs: the first N inventory hosts
	// that have an IP address, in inventory order, so that every agent
	// picks the same ones. Odd (a Raft group needs a majority); 0 means
	// every node.
	JetStreamServers int `yaml:"jetstream_servers" json:"jetstream_servers"`
	// RoutePasswordFile holds the shared route password; without it the
	// embedded server runs alone (events stay on this node).
	RoutePasswordFile string `yaml:"route_password_file" json:"route_password_file"`
	// RouteTLS adds mutual TLS to the routes; empty: password only.
	RouteTLS RouteTLS `yaml:"route_tls" json:"route_tls"`
}

// RouteTLS names the PEM files for TLS on the embedded servers' routes, all
// three or none. Every node presents CertFile (it must name the node's
// inventory address, which the other nodes dial) and accepts only peers
// whose certificate CAFile signed.
type RouteTLS struct {
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	CAFile   string `yaml:"ca_file" json:"ca_file"`
}

// EventStream is the JetStream stream's retention.
type EventStream struct {
	MaxAge   time.Duration `yaml:"max_age" json:"max_age"`
	MaxBytes ByteSize      `yaml:"max_bytes" json:"max_bytes"`
}

// EventOutbox bounds the on-disk outbox that keeps events while NATS is away.
type EventOutbox struct {
	MaxBytes ByteSize `yaml:"max_bytes" json:"max_bytes"`
}

// Agent configures the daemon's local interfaces.
type Agent struct {
	// ControlSocket is the root-only unix socket the CLI talks to.
	ControlSocket string `yaml:"control_socket" json:"control_socket"`
	// HTTPAddr serves /healthz and /metrics; keep it on loopback (another
	// address is accepted with a warning). Empty disables the listener.
	HTTPAddr string `yaml:"http_addr" json:"http_addr"`
	// StatusPage serves the read-only status page (GET /status) on the
	// HTTP listener: members, cluster findings, quorum margins, the
	// reachability matrix, clock skew, the last events.
	StatusPage bool `yaml:"status_page" json:"status_page"`
	// AllowInsecureSecretFiles lets the agent start with secret files
	// (keyring, NATS passwords, credentials, keys) that other users can
	// read or that root does not own; each is then logged as a warning.
	AllowInsecureSecretFiles bool `yaml:"allow_insecure_secret_files" json:"allow_insecure_secret_files"`
	// MaxProcs is how many threads run the daemon's Go code at once
	// (runtime.GOMAXPROCS); 0 leaves Go's default, one per CPU. One is the
	// default: the agent's work is small and mostly waiting, and on a busy
	// host (or 50 agents on a lab's two cores) one P cut idle CPU by a
	// fifth and the load by two thirds, and with it the false suspicions
	// a starved agent causes (README, Figures). The GOMAXPROCS environment
	// variable, when set, wins. Only `kuma-agent run` applies it.
	MaxProcs int `yaml:"max_procs" json:"max_procs"`
	// GCPercent is how far the heap may grow past the live heap before
	// the Go collector runs (debug.SetGCPercent, GOGC); 0 leaves Go's
	// default, 100, which is also this field's. 50 holds about 1.8 MiB
	// less in an idle agent for about 0.1 % of a core more, but with it
	// the 50-agent lab on two shared cores missed the detection tail
	// (README, Figures): an operator short of memory on hosts with CPU
	// to spare may set it. The GOGC environment variable, when set, wins.
	// Only `kuma-agent run` applies it.
	GCPercent int `yaml:"gc_percent" json:"gc_percent"`
	// ReleaseExePagesEvery is how often the daemon gives back the resident
	// pages of its executable's clean read-only regions (internal/exepages):
	// first a minute after start, once start-up is over, then every
	// period; 0 never, otherwise at least a minute. The kernel maps 64 KiB
	// of the file around every page touched, so start-up leaves most of
	// the binary resident, more than the agent goes on using; those in use
	// come back on their next touch (minor faults while the page cache
	// holds them). It lowers RSS to what is in use; it frees no memory
	// the page cache still holds. Only `kuma-agent run` does it.
	ReleaseExePagesEvery time.Duration `yaml:"release_exe_pages_every" json:"release_exe_pages_every"`
}

// Mesh configures gossip (serf). Encryption is required outside --dev.
type Mesh struct {
	// BindAddr defaults to this node's inventory address, else 0.0.0.0.
	BindAddr string `yaml:"bind_addr" json:"bind_addr"`
	Port     int    `yaml:"port" json:"port"`
	// AdvertiseAddr defaults to the bind address (or the inventory address).
	AdvertiseAddr string `yaml:"advertise_addr" json:"advertise_addr"`
	// KeyringFile holds the gossip keys (JSON list of base64 keys, primary
	// first): create it with `kuma-agent keygen`. Rotations are saved here.
	KeyringFile string `yaml:"keyring_file" json:"keyring_file"`
	// RetryJoin lists host[:port] to join; empty means every inventory host.
	RetryJoin []string `yaml:"retry_join" json:"retry_join"`
	// Profile is "lan" (tuned failure detection, default) or "stock" (serf's defaults).
	Profile string `yaml:"profile" json:"profile"`
	// QueryTimeout bounds cluster-wide queries (doctor --cluster, the
	// cluster evaluator); the agent waits at least serf's own query timeout
	// for the inventory's size.
	QueryTimeout time.Duration `yaml:"query_timeout" json:"query_timeout"`
}

// Paths are the files and programs the checks read.
type Paths struct {
	HostsFile      string   `yaml:"hosts_file" json:"hosts_file"`
	MachineIDFiles []string `yaml:"machine_id_files" json:"machine_id_files"`
	// DiskPaths must each have Checks.Disk.MinFree free.
	DiskPaths []string `yaml:"disk_paths" json:"disk_paths"`
	// DataDirs are checked too when they exist (KUMA, k0s data).
	DataDirs []string `yaml:"data_dirs" json:"data_dirs"`
	// HostnameFile is the static hostname (/etc/hostname).
	HostnameFile string `yaml:"hostname_file" json:"hostname_file"`
	HostnameBin  string `yaml:"hostname_bin" json:"hostname_bin"`
	NginxBin     string `yaml:"nginx_bin" json:"nginx_bin"`
	NginxConf    string `yaml:"nginx_conf" json:"nginx_conf"`
	// NginxModulesDir is searched for ngx_stream_module.so.
	NginxModulesDir string `yaml:"nginx_modules_dir" json:"nginx_modules_dir"`
	// ProcNetDir is where /proc/net/{tcp,tcp6,udp,udp6} live.
	ProcDir string `yaml:"proc_dir" json:"proc_dir"`
	// NTPConfFiles are read for server lines when Checks.NTP.Servers is empty.
	NTPConfFiles []string `yaml:"ntp_conf_files" json:"ntp_conf_files"`
}

// Checks holds the runner's settings and each check's thresholds.
type Checks struct {
	Interval time.Duration `yaml:"interval" json:"interval"`
	Timeout  time.Duration `yaml:"timeout" json:"timeout"`
	// Concurrency bounds how many checks run at once.
	Concurrency int `yaml:"concurrency" json:"concurrency"`
	// FailuresBeforeWarning / FailuresBeforeCritical damp flapping in the
	// daemon (Consul's semantics): a failing check reports warning only after
	// that many consecutive failures, critical after the second number. 1
	// means at once. doctor always reports at once.
	FailuresBeforeWarning  int `yaml:"failures_before_warning" json:"failures_before_warning"`
	FailuresBeforeCritical int `yaml:"failures_before_critical" json:"failures_before_critical"`
	// Disabled lists check names never to run.
	Disabled []string `yaml:"disabled" json:"disabled"`
	// Intervals overrides Interval per check name, e.g. {ntp: 60s}.
	Intervals map[string]time.Duration `yaml:"intervals" json:"intervals"`
	// Jitter spreads runs: each wait is interval*(1±jitter).
	Jitter float64 `yaml:"jitter" json:"jitter"`

	NTP       NTPCheck       `yaml:"ntp" json:"ntp"`
	ClockSkew ClockSkewCheck `yaml:"clock_skew" json:"clock_skew"`
	Disk      DiskCheck      `yaml:"disk" json:"disk"`
	Ports     PortsCheck     `yaml:"ports" json:"ports"`
	Plugins   PluginsCheck   `yaml:"plugins" json:"plugins"`
	// Resources: per-role minimums, memory, swap, load, disk growth.
	Resources ResourcesCheck `yaml:"resources" json:"resources"`
	// Certs: certificate expiry.
	Certs CertsCheck `yaml:"certs" json:"certs"`
	Etcd  EtcdCheck  `yaml:"etcd" json:"etcd"`
}

type NTPCheck struct {
	// Servers to query; empty means those of the local chrony/ntpd/timesyncd config.
	Servers    []string      `yaml:"servers" json:"servers"`
	WarnOffset time.Duration `yaml:"warn_offset" json:"warn_offset"`
	CritOffset time.Duration `yaml:"crit_offset" json:"crit_offset"`
	Timeout    time.Duration `yaml:"timeout" json:"timeout"`
}

// ClockSkewCheck judges each node's clock against the median of all
// nodes (RTT-corrected), which works with no NTP server at all.
type ClockSkewCheck struct {
	Warn time.Duration `yaml:"warn" json:"warn"`
	Crit time.Duration `yaml:"crit" json:"crit"`
}

type DiskCheck struct {
	MinFree ByteSize `yaml:"min_free" json:"min_free"`
	// MinFreeInodesPercent of the file system's inodes must stay free.
	MinFreeInodesPercent float64 `yaml:"min_free_inodes_percent" json:"min_free_inodes_percent"`
}

type PortsCheck struct {
	// Timeout bounds one TCP connect; all probes run concurrently.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// Overrides changes a port number by its name in the matrix, e.g.
	// {raft: 7210}. `kuma-agent config check` lists the names.
	Overrides cluster.Overrides `yaml:"overrides" json:"overrides"`
}

type PluginsCheck struct {
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

// Default returns the configuration used when agent.yaml sets nothing.
func Default() Config {
	return Config{
		Inventory: "/etc/kuma-agent/inventory.yml",
		StateDir:  "/var/lib/kuma-agent",
		PluginDir: "/etc/kuma-agent/plugins.d",
		LogLevel:  "info",
		Paths: Paths{
			HostsFile:       "/etc/hosts",
			MachineIDFiles:  []string{"/etc/machine-id", "/var/lib/dbus/machine-id"},
			DiskPaths:       []string{"/var/lib"},
			DataDirs:        []string{"/opt/kaspersky/kuma", "/var/lib/k0s"},
			HostnameFile:    "/etc/hostname",
			HostnameBin:     "hostname",
			NginxBin:        "nginx",
			NginxConf:       "/etc/nginx/nginx.conf",
			NginxModulesDir: "/usr/lib/nginx/modules",
			ProcDir:         "/proc",
			NTPConfFiles:    []string{"/etc/chrony/chrony.conf", "/etc/chrony.conf", "/etc/ntp.conf", "/etc/ntpsec/ntp.conf", "/etc/systemd/timesyncd.conf"},
		},
		Checks: Checks{
			Interval:               30 * time.Second,
			Timeout:                5 * time.Second,
			Concurrency:            8,
			Jitter:                 0.1,
			FailuresBeforeWarning:  1,
			FailuresBeforeCritical: 3,
			ClockSkew:              ClockSkewCheck{Warn: 250 * time.Millisecond, Crit: time.Second},
			NTP: NTPCheck{
				WarnOffset: 100 * time.Millisecond,
				CritOffset: time.Second,
				Timeout:    2 * time.Second,
			},
			Disk:      DiskCheck{MinFree: 32 * GiB, MinFreeInodesPercent: 5},
			Ports:     PortsCheck{Timeout: 500 * time.Millisecond},
			Plugins:   PluginsCheck{Timeout: 10 * time.Second},
			Resources: DefaultResources(),
			Certs:     DefaultCerts(),
			Etcd:      DefaultEtcdCheck(),
		},
		Agent: Agent{
			ControlSocket: "/run/kuma-agent/control.sock",
			HTTPAddr:      "127.0.0.1:9465",
			StatusPage:    true,
			MaxProcs:      1,
			GCPercent:     100,
			// ReleaseExePagesEvery: README, Figures (idle memory).
			ReleaseExePagesEvery: 10 * time.Minute,
		},
		Events: Events{
			Enabled:  true,
			Cluster:  "kuma",
			Embedded: EmbeddedNATS{Host: "127.0.0.1", Port: 4222, ClusterPort: 6222, LeafPort: 7422, JetStreamServers: 3, RoutePasswordFile: "/etc/kuma-agent/nats-route.password"},
			Stream:   EventStream{MaxAge: 7 * 24 * time.Hour, MaxBytes: GiB},
			Outbox:   EventOutbox{MaxBytes: 64 * MiB},
		},
		Mesh: Mesh{
			Port:         7946,
			KeyringFile:  "/etc/kuma-agent/gossip.keyring",
			Profile:      "lan",
			QueryTimeout: time.Second,
		},
		Supervisor: DefaultSupervisor(),
		Kubernetes: DefaultKubernetes(),
	}
}
