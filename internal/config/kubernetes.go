package config

import (
	"path/filepath"
	"slices"
	"time"
)

// Kubernetes configures what the cluster evaluator reads from the
// Kubernetes API on the k0s and Acura (kubeadm) layouts, and the opt-in
// Core failover.
type Kubernetes struct {
	// Checks turns on the read-only Kubernetes and Longhorn cluster
	// findings (layouts k0s and acura only).
	Checks bool `yaml:"checks" json:"checks"`
	// Kubeconfig is the kubeconfig the evaluator reads the API with; empty:
	// the layout's admin kubeconfig (k0s: /var/lib/k0s/pki/admin.conf,
	// kubeadm: /etc/kubernetes/admin.conf), present on the controllers.
	Kubeconfig string `yaml:"kubeconfig" json:"kubeconfig"`
	// Timeout bounds each API request.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// Core identifies the KUMA Core pod (KUMA documents the namespace and
	// the deployment's name, not the pod labels: the site confirms them).
	Core KubeCore `yaml:"core" json:"core"`
	// LonghornDataPath is Longhorn's data path on the workers (the
	// longhorn-prereqs node check judges its filesystem).
	LonghornDataPath string `yaml:"longhorn_data_path" json:"longhorn_data_path"`
	// Failover is the opt-in Core failover by the out-of-service taint.
	Failover KubeFailover `yaml:"failover" json:"failover"`
}

// KubeCore selects the KUMA Core pod: pods of Namespace matching
// LabelSelector (empty: all) whose name starts with NamePrefix.
type KubeCore struct {
	Namespace     string `yaml:"namespace" json:"namespace"`
	LabelSelector string `yaml:"label_selector" json:"label_selector"`
	NamePrefix    string `yaml:"name_prefix" json:"name_prefix"`
}

// KubeFailover is the Core failover: off, dry-run (events say what would
// be done) or on.
type KubeFailover struct {
	Mode string `yaml:"mode" json:"mode"`
	// After is how long the mesh must have called the Core's worker failed.
	After time.Duration `yaml:"after" json:"after"`
	// Interval is how often the evaluator looks (a pass reads the Nodes and
	// the Core pods; the members are queried only for a suspect).
	Interval time.Duration `yaml:"interval" json:"interval"`
}

// FailoverModes are KubeFailover.Mode's values.
var FailoverModes = []string{"off", "dry-run", "on"}

// DefaultKubernetes reads (checks on) and never writes (failover off).
func DefaultKubernetes() Kubernetes {
	return Kubernetes{Checks: true, Timeout: 5 * time.Second, LonghornDataPath: "/var/lib/longhorn",
		Core:     KubeCore{Namespace: "kuma", NamePrefix: "core-deployment"},
		Failover: KubeFailover{Mode: "off", After: 30 * time.Second, Interval: 5 * time.Second}}
}

func (c *Config) validateKubernetes(bad func(key, format string, args ...any)) {
	k := c.Kubernetes
	if k.Kubeconfig != "" && !filepath.IsAbs(k.Kubeconfig) {
		bad("kubernetes.kubeconfig", "must be an absolute path, not %q", k.Kubeconfig)
	}
	if !filepath.IsAbs(k.LonghornDataPath) {
		bad("kubernetes.longhorn_data_path", "must be an absolute path, not %q", k.LonghornDataPath)
	}
	if k.Timeout <= 0 {
		bad("kubernetes.timeout", "must be a positive duration such as 5s, not %v", k.Timeout)
	}
	if k.Core.Namespace == "" {
		bad("kubernetes.core.namespace", "must name the Core's namespace (KUMA: kuma)")
	}
	if !slices.Contains(FailoverModes, k.Failover.Mode) {
		bad("kubernetes.failover.mode", "must be one of %v, not %q", FailoverModes, k.Failover.Mode)
	}
	if k.Failover.Mode != "off" && !c.Events.Enabled {
		bad("kubernetes.failover.mode", "needs events.enabled: the failover acts only under the cluster lease, which rides on the events' NATS")
	}
	if k.Failover.After < 0 {
		bad("kubernetes.failover.after", "must not be negative, not %v", k.Failover.After)
	}
	if k.Failover.Interval <= 0 {
		bad("kubernetes.failover.interval", "must be a positive duration such as 5s, not %v", k.Failover.Interval)
	}
}
