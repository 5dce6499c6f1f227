package config

import (
	"strings"
	"testing"
)

func TestKubernetesValidation(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"kubernetes:\n  failover:\n    mode: yes-please\n", "config:3: kubernetes.failover.mode: must be one of [off dry-run on]"},
		{"events:\n  enabled: false\nkubernetes:\n  failover:\n    mode: dry-run\n", "kubernetes.failover.mode: needs events.enabled"},
		{"kubernetes:\n  kubeconfig: admin.conf\n", "config:2: kubernetes.kubeconfig: must be an absolute path"},
		{"kubernetes:\n  core:\n    namespace: \"\"\n", "kubernetes.core.namespace: must name"},
		{"kubernetes:\n  failover:\n    interval: 0s\n", "kubernetes.failover.interval: must be a positive duration"},
	} {
		_, err := Decode("config", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
	cfg, err := Decode("config", []byte("kubernetes:\n  failover:\n    mode: \"on\"\n    after: 10s\n"))
	if err != nil || cfg.Kubernetes.Failover.Mode != "on" || cfg.Kubernetes.Failover.After.Seconds() != 10 || !cfg.Kubernetes.Checks {
		t.Fatalf("cfg %+v, err %v", cfg.Kubernetes, err)
	}
}
