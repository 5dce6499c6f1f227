package config

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/argtmpl"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// Supervisor configures unit supervision and healing.
type Supervisor struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// DryRun proposes every action (as events) and performs none.
	DryRun bool `yaml:"dry_run" json:"dry_run"`
	// Backend is systemd (D-Bus) or exec (hosts without systemd).
	Backend string `yaml:"backend" json:"backend"`
	// DBusAddress overrides the system bus (containers, tests).
	DBusAddress string `yaml:"dbus_address" json:"dbus_address"`
	// Units replaces the role-derived unit table when not empty.
	Units []UnitRule `yaml:"units" json:"units"`
	// StartStopped also starts enabled units found inactive; by default an
	// inactive unit is an operator's stop and is left alone.
	StartStopped bool              `yaml:"start_stopped" json:"start_stopped"`
	Backoff      SupervisorBackoff `yaml:"backoff" json:"backoff"`
	// HealTimeout bounds the wait for a started unit to become active.
	HealTimeout time.Duration `yaml:"heal_timeout" json:"heal_timeout"`
	// LeaseTTL is how long the cluster lease outlives a silent holder.
	LeaseTTL time.Duration `yaml:"lease_ttl" json:"lease_ttl"`
	Exec     ExecBackend   `yaml:"exec" json:"exec"`
	Rejoin   Rejoin        `yaml:"rejoin" json:"rejoin"`
	Cleanup  Cleanup       `yaml:"cleanup" json:"cleanup"`
	Backups  CoreBackups   `yaml:"backups" json:"backups"`
	// CoreDir holds each Core's working directory (<core_dir>/<ID>, KUMA:
	// /opt/kaspersky/kuma/core); tests point it into a container.
	CoreDir string `yaml:"core_dir" json:"core_dir"`
	// UnitDir is where `raft ... --execute` removes a Core's unit file
	// and writes the chosen Core's drop-in (systemd's /etc/systemd/system);
	// a unit whose file is elsewhere is masked, never edited. Tests point
	// it into a container.
	UnitDir string `yaml:"unit_dir" json:"unit_dir"`
}

// CoreBackups are the archives of a Core's working directory taken before
// anything reinstalls, resets or removes it (a rejoin, the guided
// procedures' steps). The disk check's checks.disk.min_free is the floor
// a backup may not push the state directory's file system below.
type CoreBackups struct {
	// MaxBytes is the largest working directory archived; a larger one
	// refuses the backup, and with it the action.
	MaxBytes ByteSize `yaml:"max_bytes" json:"max_bytes"`
	// Keep is how many archives per Core are kept, newest first.
	Keep int `yaml:"keep" json:"keep"`
}

// UnitRule adds units to supervise: a glob, the roles it applies to (empty
// = every node) and its quorum group (raft, etcd or empty).
type UnitRule struct {
	Pattern string         `yaml:"pattern" json:"pattern"`
	Roles   []cluster.Role `yaml:"roles" json:"roles"`
	Group   string         `yaml:"group" json:"group"`
}

// SupervisorBackoff is the local healing policy.
type SupervisorBackoff struct {
	Initial     time.Duration `yaml:"initial" json:"initial"`
	Max         time.Duration `yaml:"max" json:"max"`
	Jitter      float64       `yaml:"jitter" json:"jitter"`
	Window      time.Duration `yaml:"window" json:"window"`
	MaxAttempts int           `yaml:"max_attempts" json:"max_attempts"`
}

// ExecBackend runs commands instead of talking to systemd. {{.Unit}} in an
// argument is replaced by the unit name. Status's exit code follows LSB
// `status`: 0 running, 3 stopped, 1-2 failed, other unknown.
type ExecBackend struct {
	Units        []string      `yaml:"units" json:"units"`
	Status       []string      `yaml:"status" json:"status"`
	Start        []string      `yaml:"start" json:"start"`
	ResetFailed  []string      `yaml:"reset_failed" json:"reset_failed"`
	PollInterval time.Duration `yaml:"poll_interval" json:"poll_interval"`
}

// Rejoin reads the local Raft Core's state and, opt-in, brings a Core that
// runs but fell out of the cluster back in. KUMA documents neither the
// health listener's path nor its body, so nothing is read until a site
// configures a signal it confirmed, and nothing acts until Enabled: the
// health signal needs explicit out_pattern and in_pattern; an HTTP error,
// a 404, a timeout or a body matching no pattern is "unknown", never
// "out". JoinCommand is a template with {{.Leader}} (host:port of the
// leader: the inventory's raft_node_addr, or FQDN:raft_port, of the one
// Raft voter of the inventory that the mesh says leads), {{.ID}} (the
// Core's service ID, from its unit name) and {{.Unit}}; plain references
// only (argtmpl).
type Rejoin struct {
	// Enabled lets the supervisor act on "out" readings (a rejoin);
	// readings are taken whenever a signal is configured.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// DryRun proposes each rejoin (an event) and performs none.
	DryRun   bool          `yaml:"dry_run" json:"dry_run"`
	Interval time.Duration `yaml:"interval" json:"interval"`
	// Readings is how many consecutive "out" readings trigger a rejoin.
	Readings int `yaml:"readings" json:"readings"`
	// HealthURL is read as given; empty with HealthPath set: the Core
	// unit's own --health listener (its port; 127.0.0.1 for a wildcard
	// address) and HealthPath. Only a 2xx body is judged.
	HealthURL     string        `yaml:"health_url" json:"health_url"`
	HealthPath    string        `yaml:"health_path" json:"health_path"`
	HealthTimeout time.Duration `yaml:"health_timeout" json:"health_timeout"`
	// OutPattern and InPattern on a 2xx health body: out of the cluster,
	// in it. Both are required with a health signal (site-confirmed).
	OutPattern string `yaml:"out_pattern" json:"out_pattern"`
	InPattern  string `yaml:"in_pattern" json:"in_pattern"`
	// LeaderPattern on the health body tells this Core leads (gossiped so
	// that a rejoining node finds the leader, and for the leader count).
	LeaderPattern string `yaml:"leader_pattern" json:"leader_pattern"`
	// HungReadings: a Core unit active whose health listener times out
	// this many readings in a row is reported hung (0: never).
	HungReadings int `yaml:"hung_readings" json:"hung_readings"`
	// RestartHung restarts a hung Core (opt-in), under the lease and the
	// quorum guard, once per silence (dry_run proposes it).
	RestartHung bool `yaml:"restart_hung" json:"restart_hung"`
	// LogFile and LogPattern: a new line matching is "out".
	LogFile    string `yaml:"log_file" json:"log_file"`
	LogPattern string `yaml:"log_pattern" json:"log_pattern"`
	// Command: a non-zero exit is "out".
	Command     []string `yaml:"command" json:"command"`
	JoinCommand []string `yaml:"join_command" json:"join_command"`
	RaftPort    int      `yaml:"raft_port" json:"raft_port"`
}

// Configured reports whether any Raft state signal is set up.
func (r Rejoin) Configured() bool {
	return r.HealthURL != "" || r.HealthPath != "" || r.LogFile != "" || len(r.Command) > 0
}

// Cleanup removes members failed for longer than After from etcd (opt-in).
// Commands are argv templates with {{.Name}} and {{.Addr}} of the dead
// member, {{.Hostname}} of this host and {{.MemberID}}, the etcd ID the
// agent reads from a step running `etcdctl member list -w json` before.
type Cleanup struct {
	Enabled bool          `yaml:"enabled" json:"enabled"`
	DryRun  bool          `yaml:"dry_run" json:"dry_run"`
	After   time.Duration `yaml:"after" json:"after"`
	// K0s and Acura are the command lists per layout, run in order.
	K0s   [][]string `yaml:"k0s" json:"k0s"`
	Acura [][]string `yaml:"acura" json:"acura"`
}

// DefaultSupervisor is the supervisor section of Default().
func DefaultSupervisor() Supervisor {
	return Supervisor{
		Enabled:     true,
		Backend:     "systemd",
		Units:       []UnitRule{},
		Backoff:     SupervisorBackoff{Initial: 2 * time.Second, Max: 5 * time.Minute, Jitter: 0.2, Window: 30 * time.Minute, MaxAttempts: 5},
		HealTimeout: 2 * time.Minute,
		LeaseTTL:    15 * time.Second,
		Exec: ExecBackend{
			Units:  []string{},
			Status: []string{"service", "{{.Unit}}", "status"}, Start: []string{"service", "{{.Unit}}", "start"},
			ResetFailed: []string{}, PollInterval: 2 * time.Second,
		},
		Rejoin: Rejoin{
			DryRun: true, Interval: 5 * time.Second, Readings: 3, HealthTimeout: 2 * time.Second,
			Command:     []string{},
			JoinCommand: []string{"/opt/kaspersky/kuma/kuma", "core", "--raft.join", "{{.Leader}}", "--id", "{{.ID}}", "--install"},
			RaftPort:    7209,
		},
		Backups: CoreBackups{MaxBytes: 8 * GiB, Keep: 3},
		CoreDir: "/opt/kaspersky/kuma/core",
		UnitDir: "/etc/systemd/system",
		Cleanup: Cleanup{
			DryRun: true, After: 30 * time.Minute,
			K0s: [][]string{{"k0s", "etcd", "leave", "--peer-address", "{{.Addr}}"}},
			Acura: [][]string{
				{"kubectl", "delete", "node", "{{.Name}}"},
				slices.Concat(acuraEtcdctl, []string{"member", "list", "-w", "json"}),
				slices.Concat(acuraEtcdctl, []string{"member", "remove", "{{.MemberID}}"}),
			},
		},
	}
}

// acuraEtcdctl runs etcdctl in this host's etcd pod (the cleanup's
// member list and remove steps).
var acuraEtcdctl = []string{"kubectl", "-n", "kube-system", "exec", "etcd-{{.Hostname}}", "--", "etcdctl",
	"--cacert", "/etc/kubernetes/pki/etcd/ca.crt", "--cert", "/etc/kubernetes/pki/etcd/peer.crt", "--key", "/etc/kubernetes/pki/etcd/peer.key"}

var supervisorBackends = []string{"systemd", "exec"}

// cleanupFields are the placeholders of cleanup commands.
var cleanupFields = []string{"Name", "Addr", "Hostname", "MemberID"}

// checkTemplate refuses what a command template may not hold (argtmpl):
// any template action but a plain {{.Field}} reference, a field not in
// allowed, a reference inside a shell's -c script. Each complaint names the
// argument: supervisor.rejoin.join_command[2].
func checkTemplate(bad func(key, format string, args ...any), key string, args []string, allowed ...string) {
	for _, e := range argtmpl.Check(args, allowed) {
		bad(fmt.Sprintf("%s[%d]", key, e.Index), "%s", e.Msg)
	}
}

func (c *Config) validateSupervisor(bad func(key, format string, args ...any)) {
	s := c.Supervisor
	if !slices.Contains(supervisorBackends, s.Backend) {
		bad("supervisor.backend", "must be one of %v, not %q", supervisorBackends, s.Backend)
	}
	for i, r := range s.Units {
		key := fmt.Sprintf("supervisor.units[%d]", i)
		if _, err := path.Match(r.Pattern, ""); err != nil || r.Pattern == "" {
			bad(key+".pattern", "must be a unit glob such as kuma-core-*.service, not %q", r.Pattern)
		}
		if !slices.Contains([]string{"", "raft", "etcd"}, r.Group) {
			bad(key+".group", "must be raft, etcd or empty, not %q", r.Group)
		}
		for j, role := range r.Roles {
			if _, err := cluster.ParseRole(string(role)); err != nil {
				bad(fmt.Sprintf("%s.roles[%d]", key, j), "%v", err)
			}
		}
	}
	b := s.Backoff
	if b.Initial <= 0 || b.Max < b.Initial {
		bad("supervisor.backoff.initial", "must be positive and at most supervisor.backoff.max (%v, %v)", b.Initial, b.Max)
	}
	if b.Window <= 0 {
		bad("supervisor.backoff.window", "must be a positive duration, not %v", b.Window)
	}
	if b.Jitter < 0 || b.Jitter >= 1 {
		bad("supervisor.backoff.jitter", "must be in [0, 1), not %v", b.Jitter)
	}
	if b.MaxAttempts < 1 {
		bad("supervisor.backoff.max_attempts", "must be at least 1, not %d", b.MaxAttempts)
	}
	if s.HealTimeout <= 0 {
		bad("supervisor.heal_timeout", "must be a positive duration, not %v", s.HealTimeout)
	}
	if s.LeaseTTL < 3*time.Second {
		bad("supervisor.lease_ttl", "must be at least 3s (it is renewed every third), not %v", s.LeaseTTL)
	}
	if s.Backend == "exec" {
		if len(s.Exec.Units) == 0 {
			bad("supervisor.exec.units", "lists the units to supervise; the exec backend cannot discover them")
		}
		if len(s.Exec.Status) == 0 || len(s.Exec.Start) == 0 {
			bad("supervisor.exec.status", "status and start commands are required with backend exec")
		}
		if s.Exec.PollInterval <= 0 {
			bad("supervisor.exec.poll_interval", "must be a positive duration, not %v", s.Exec.PollInterval)
		}
	}
	checkTemplate(bad, "supervisor.exec.status", s.Exec.Status, "Unit")
	checkTemplate(bad, "supervisor.exec.start", s.Exec.Start, "Unit")
	checkTemplate(bad, "supervisor.exec.reset_failed", s.Exec.ResetFailed, "Unit")
	r := s.Rejoin
	if r.Enabled || r.Configured() {
		if r.Interval <= 0 {
			bad("supervisor.rejoin.interval", "must be a positive duration, not %v", r.Interval)
		}
		if r.Readings < 1 {
			bad("supervisor.rejoin.readings", "must be at least 1, not %d", r.Readings)
		}
		if r.HealthTimeout <= 0 {
			bad("supervisor.rejoin.health_timeout", "must be a positive duration, not %v", r.HealthTimeout)
		}
		if r.RaftPort < 1 || r.RaftPort > 65535 {
			bad("supervisor.rejoin.raft_port", "must be a port number, not %d", r.RaftPort)
		}
	}
	if r.Enabled {
		if !r.Configured() {
			bad("supervisor.rejoin", "needs at least one signal a site confirmed: health_url or health_path (with out_pattern and in_pattern), log_file or command")
		}
		if len(r.JoinCommand) == 0 {
			bad("supervisor.rejoin.join_command", "is required when rejoin is enabled")
		}
	}
	if r.HealthURL != "" {
		if u, err := url.Parse(r.HealthURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("supervisor.rejoin.health_url", "must be an http(s) URL, not %q", r.HealthURL)
		}
	}
	if r.HealthPath != "" && (!strings.HasPrefix(r.HealthPath, "/") || strings.ContainsAny(r.HealthPath, " \t\r\n?#")) {
		bad("supervisor.rejoin.health_path", "must be an absolute URL path such as /health, not %q", r.HealthPath)
	}
	if r.HealthURL != "" || r.HealthPath != "" {
		// KUMA documents no health body: what means out and in must come
		// from the site, never from a default.
		if r.OutPattern == "" {
			bad("supervisor.rejoin.out_pattern", "is required with a health signal: the body pattern your KUMA version answers when the Core is out of the cluster (KUMA documents none)")
		}
		if r.InPattern == "" {
			bad("supervisor.rejoin.in_pattern", "is required with a health signal: the body pattern your KUMA version answers when the Core is in the cluster (KUMA documents none)")
		}
	}
	if r.HungReadings < 0 {
		bad("supervisor.rejoin.hung_readings", "must be 0 (off) or more, not %d", r.HungReadings)
	}
	if r.RestartHung && (r.HungReadings < 1 || (r.HealthURL == "" && r.HealthPath == "")) {
		bad("supervisor.rejoin.restart_hung", "needs hung_readings of at least 1 and a health signal (health_url or health_path)")
	}
	for key, p := range map[string]string{"supervisor.rejoin.out_pattern": r.OutPattern, "supervisor.rejoin.in_pattern": r.InPattern,
		"supervisor.rejoin.leader_pattern": r.LeaderPattern, "supervisor.rejoin.log_pattern": r.LogPattern} {
		if _, err := regexp.Compile(p); err != nil {
			bad(key, "is not a valid regular expression: %v", err)
		}
	}
	if (r.LogFile == "") != (r.LogPattern == "") {
		bad("supervisor.rejoin.log_file", "log_file and log_pattern go together")
	}
	checkTemplate(bad, "supervisor.rejoin.join_command", r.JoinCommand, "Leader", "ID", "Unit")
	if !path.IsAbs(s.CoreDir) {
		bad("supervisor.core_dir", "must be an absolute path, not %q", s.CoreDir)
	}
	if !path.IsAbs(s.UnitDir) {
		bad("supervisor.unit_dir", "must be an absolute path, not %q", s.UnitDir)
	}
	if s.Backups.MaxBytes < 1 {
		bad("supervisor.backups.max_bytes", "must be positive, not %d", s.Backups.MaxBytes)
	}
	if s.Backups.Keep < 1 {
		bad("supervisor.backups.keep", "must be at least 1, not %d", s.Backups.Keep)
	}
	if s.Cleanup.Enabled && s.Cleanup.After < time.Minute {
		bad("supervisor.cleanup.after", "must be at least 1m: removing a member is not undone by its return, not %v", s.Cleanup.After)
	}
	for i, cmd := range s.Cleanup.K0s {
		checkTemplate(bad, fmt.Sprintf("supervisor.cleanup.k0s[%d]", i), cmd, cleanupFields...)
	}
	for i, cmd := range s.Cleanup.Acura {
		checkTemplate(bad, fmt.Sprintf("supervisor.cleanup.acura[%d]", i), cmd, cleanupFields...)
	}
}
