package config

import (
	"strings"
	"testing"
)

func TestSupervisorValidation(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"backend", "supervisor:\n  backend: upstart\n", "agent.yaml:2: supervisor.backend: must be one of [systemd exec]"},
		{"placeholder", "supervisor:\n  rejoin:\n    join_command: [kuma, core, --raft.join, \"{{.Leadr}}\"]\n", "supervisor.rejoin.join_command[3]: unknown placeholder {{.Leadr}}"},
		{"regexp", "supervisor:\n  rejoin:\n    out_pattern: '(['\n", "supervisor.rejoin.out_pattern: is not a valid regular expression"},
		{"group", "supervisor:\n  units:\n    - {pattern: 'kuma-*.service', group: paxos}\n", "supervisor.units[0].group: must be raft, etcd or empty"},
		{"role", "supervisor:\n  units:\n    - {pattern: 'x.service', roles: [kuma]}\n", "supervisor.units[0].roles[0]: unknown role \"kuma\""},
		{"exec needs units", "supervisor:\n  backend: exec\n", "supervisor.exec.units: lists the units"},
		{"backoff", "supervisor:\n  backoff:\n    initial: 10m\n    max: 1m\n", "supervisor.backoff.initial: must be positive and at most"},
		{"lease ttl", "supervisor:\n  lease_ttl: 1s\n", "supervisor.lease_ttl: must be at least 3s"},
		{"log pair", "supervisor:\n  rejoin:\n    log_file: /var/log/x\n", "log_file and log_pattern go together"},
		{"cleanup after", "supervisor:\n  cleanup:\n    enabled: true\n    after: 10s\n", "supervisor.cleanup.after: must be at least 1m"},
		{"unknown key", "supervisor:\n  dryrun: true\n", "agent.yaml:2: supervisor.dryrun: unknown key"},
		// KUMA documents no health body: a health signal without the
		// site's patterns is refused, never defaulted.
		{"health without out", "supervisor:\n  rejoin:\n    health_path: /health\n    in_pattern: ok\n", "supervisor.rejoin.out_pattern: is required with a health signal"},
		{"health without in", "supervisor:\n  rejoin:\n    health_url: http://127.0.0.1:7208/\n    out_pattern: out\n", "supervisor.rejoin.in_pattern: is required with a health signal"},
		{"health path", "supervisor:\n  rejoin:\n    health_path: health\n    out_pattern: o\n    in_pattern: i\n", "supervisor.rejoin.health_path: must be an absolute URL path"},
		{"enabled without signal", "supervisor:\n  rejoin:\n    enabled: true\n", "supervisor.rejoin: needs at least one signal a site confirmed"},
		{"hung readings", "supervisor:\n  rejoin:\n    hung_readings: -1\n", "supervisor.rejoin.hung_readings: must be 0"},
	}
	for _, c := range cases {
		_, err := Decode("agent.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
	ok := "supervisor:\n  dry_run: true\n  units:\n    - {pattern: 'kuma-core-*.service', roles: [core], group: raft}\n  cleanup:\n    enabled: true\n"
	cfg, err := Decode("agent.yaml", []byte(ok))
	if err != nil {
		t.Fatalf("valid supervisor section: %v", err)
	}
	if !cfg.Supervisor.DryRun || len(cfg.Supervisor.Units) != 1 || !cfg.Supervisor.Cleanup.DryRun {
		t.Errorf("decoded %+v", cfg.Supervisor)
	}
	// By default nothing Raft is read or done: no signal, no rejoin.
	if r := cfg.Supervisor.Rejoin; r.Enabled || r.Configured() || !r.DryRun {
		t.Errorf("default rejoin %+v: want off, no signal, dry-run", r)
	}
}

// Command templates hold plain {{.Field}} references and nothing else: no
// function call, pipeline, variable, condition or nested template, no
// reference inside a shell script; each refusal names the argument.
func TestCommandTemplatesRefuseActions(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"call", "supervisor:\n  rejoin:\n    join_command: [kuma, core, \"{{call .Leader}}\"]\n",
			"agent.yaml:3: supervisor.rejoin.join_command[2]: template action {{call .Leader}} is not allowed; only {{.Field}} references"},
		{"pipeline", "supervisor:\n  rejoin:\n    join_command: [kuma, \"{{.Leader | printf \\\"%s\\\"}}\"]\n",
			"supervisor.rejoin.join_command[1]: template action {{.Leader | printf \"%s\"}} is not allowed"},
		{"if", "supervisor:\n  rejoin:\n    join_command: [kuma, \"{{if .ID}}x{{end}}\"]\n",
			"supervisor.rejoin.join_command[1]: template action {{if .ID}}x{{end}} is not allowed"},
		{"variable", "supervisor:\n  rejoin:\n    join_command: [\"{{$x := .ID}}\"]\n", "supervisor.rejoin.join_command[0]: template action"},
		{"nested field", "supervisor:\n  exec:\n    start: [service, \"{{.Unit.Name}}\"]\n", "supervisor.exec.start[1]: template action {{.Unit.Name}}"},
		{"cleanup step", "supervisor:\n  cleanup:\n    k0s: [[k0s, etcd, leave, \"{{printf \\\"%s\\\" .Addr}}\"]]\n", "supervisor.cleanup.k0s[0][3]: template action"},
		{"acura step", "supervisor:\n  cleanup:\n    acura: [[kubectl, delete, node, \"{{template \\\"x\\\"}}\"]]\n", "supervisor.cleanup.acura[0][3]: template action"},
		{"shell script", "supervisor:\n  cleanup:\n    k0s: [[sh, -c, \"k0s etcd leave {{.Addr}}\"]]\n", "supervisor.cleanup.k0s[0][2]: a shell script with a {{...}} placeholder"},
		{"reset_failed", "supervisor:\n  exec:\n    reset_failed: [\"{{html .Unit}}\"]\n", "supervisor.exec.reset_failed[0]: template action"},
		{"broken", "supervisor:\n  rejoin:\n    join_command: [\"{{.Leader\"]\n", "supervisor.rejoin.join_command[0]: not a valid template"},
	}
	for _, c := range cases {
		_, err := Decode("agent.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
	// Every default template is plain references.
	def := Default()
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func TestNodeNameIsAHostName(t *testing.T) {
	for _, bad := range []string{"$(id)", "evil'$(touch /tmp/x)'", "a b", `x\e[31m`, "-a.b", "a..b"} {
		_, err := Decode("agent.yaml", []byte("node_name: \""+bad+"\"\n"))
		if err == nil || !strings.Contains(err.Error(), "agent.yaml:1: node_name: host name") {
			t.Errorf("node_name %q: %v", bad, err)
		}
	}
	if _, err := Decode("agent.yaml", []byte("node_name: kuma-core-1.example.com\n")); err != nil {
		t.Errorf("a host name refused: %v", err)
	}
}
