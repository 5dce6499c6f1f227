package config

import (
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

func TestResourcesAndCertsConfig(t *testing.T) {
	cfg, err := Decode("a.yaml", []byte(`
checks:
  resources:
    minimums:
      core: {memory: 16GiB, cpus: 8}
    growth: {warn: 12h, crit: 2h}
  certs:
    warn: 480h
    extra_paths: [/srv/tls/*.pem]
`))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Checks.Resources
	if r.Minimums[cluster.RoleCore].Memory != 16*GiB || r.Minimums[cluster.RoleAcuraNode].CPUs != 8 {
		t.Errorf("minimums %+v: a site's row is added to the defaults", r.Minimums)
	}
	if r.Growth.Warn != 12*time.Hour || r.Growth.Window != 6*time.Hour || cfg.Checks.Certs.Warn != 20*24*time.Hour || cfg.Checks.Certs.Crit != 7*24*time.Hour {
		t.Errorf("%+v %+v", r.Growth, cfg.Checks.Certs)
	}

	_, err = Decode("b.yaml", []byte(`
checks:
  resources:
    minimums:
      dbserver: {memory: 1GB}
      acura-node: {data_size: 1GB, data_path: data}
    memory_available_warn: 0.01
    growth: {warn: 1h, crit: 2h, min_samples: 1}
  certs:
    warn: 24h
    crit: 48h
    extra_paths: [relative.pem]
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`b.yaml:5: checks.resources.minimums.dbserver: unknown role "dbserver"`,
		"checks.resources.minimums.acura-node.data_path: must be an absolute path",
		"checks.resources.memory_available_crit: must be less than memory_available_warn",
		"checks.resources.growth.crit: must be less than growth.warn",
		"checks.resources.growth.min_samples: must be at least 2",
		"checks.certs.warn: must be longer than checks.certs.crit",
		"checks.certs.extra_paths[0]: must be an absolute path",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
