package config

import (
	"net/url"
	"path/filepath"
	"time"
)

// EtcdCheck configures the etcd check on controllers and what the agent
// reads of etcd for the quorum checks and the dead-member cleanup: etcd's
// own API (its JSON gateway) with the layout's client certificates.
type EtcdCheck struct {
	// Endpoint is this controller's etcd client API (k0s and kubeadm keep
	// it on the node: https://127.0.0.1:2379).
	Endpoint string `yaml:"endpoint" json:"endpoint"`
	// CAFile, CertFile and KeyFile are the client's TLS files; empty: the
	// layout's (k0s: /var/lib/k0s/pki/etcd/ca.crt and
	// /var/lib/k0s/pki/apiserver-etcd-client.{crt,key}; kubeadm and Acura:
	// /etc/kubernetes/pki/etcd/ca.crt and
	// /etc/kubernetes/pki/apiserver-etcd-client.{crt,key}).
	CAFile   string `yaml:"ca_file" json:"ca_file"`
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// Timeout bounds one request to one member.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// QuotaBytes is etcd's --quota-backend-bytes (etcd's default: 2 GiB);
	// the database size is judged against it.
	QuotaBytes ByteSize `yaml:"quota_bytes" json:"quota_bytes"`
	// DBWarnPercent and DBCritPercent of the quota.
	DBWarnPercent float64 `yaml:"db_warn_percent" json:"db_warn_percent"`
	DBCritPercent float64 `yaml:"db_crit_percent" json:"db_crit_percent"`
	// RaftLagWarn: a member whose raft index is behind the highest by more
	// than this many entries is a warning.
	RaftLagWarn uint64 `yaml:"raft_lag_warn" json:"raft_lag_warn"`
}

// DefaultEtcdCheck is checks.etcd of Default().
func DefaultEtcdCheck() EtcdCheck {
	return EtcdCheck{Endpoint: "https://127.0.0.1:2379", Timeout: 2 * time.Second, QuotaBytes: 2 * GiB,
		DBWarnPercent: 80, DBCritPercent: 95, RaftLagWarn: 1000}
}

func (e EtcdCheck) validate(bad func(key, format string, args ...any)) {
	if u, err := url.Parse(e.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" && u.Path != "/" {
		bad("checks.etcd.endpoint", "must be an https URL such as https://127.0.0.1:2379 (etcd's client API with client certificates), not %q", e.Endpoint)
	}
	for key, p := range map[string]string{"checks.etcd.ca_file": e.CAFile, "checks.etcd.cert_file": e.CertFile, "checks.etcd.key_file": e.KeyFile} {
		if p != "" && !filepath.IsAbs(p) {
			bad(key, "must be an absolute path (or empty for the layout's), not %q", p)
		}
	}
	if e.Timeout <= 0 {
		bad("checks.etcd.timeout", "must be a positive duration such as 2s, not %v", e.Timeout)
	}
	if e.QuotaBytes < 1 {
		bad("checks.etcd.quota_bytes", "must be positive (etcd's --quota-backend-bytes, default 2GiB), not %d", e.QuotaBytes)
	}
	if e.DBWarnPercent <= 0 || e.DBCritPercent > 100 || e.DBWarnPercent >= e.DBCritPercent {
		bad("checks.etcd.db_warn_percent", "needs 0 < db_warn_percent < db_crit_percent <= 100, not %v and %v", e.DBWarnPercent, e.DBCritPercent)
	}
	if e.RaftLagWarn < 1 {
		bad("checks.etcd.raft_lag_warn", "must be at least 1, not %d", e.RaftLagWarn)
	}
}
