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
}
