package plan

import (
	"context"
	"net"
	"slices"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
)

// EtcdAccess is how this node reads its etcd: the client's TLS files (the
// config's, else the layout's), the endpoint and the request timeout.
type EtcdAccess struct {
	Endpoint string
	Files    etcd.TLSFiles
	Timeout  time.Duration
	cfg      config.EtcdCheck
}

// EtcdAccessFor resolves checks.etcd against the layout.
func EtcdAccessFor(cfg config.Config, layout cluster.Layout) EtcdAccess {
	e := cfg.Checks.Etcd
	f := etcd.FilesFor(layout)
	for _, p := range []struct{ set, def *string }{{&e.CAFile, &f.CAFile}, {&e.CertFile, &f.CertFile}, {&e.KeyFile, &f.KeyFile}} {
		if *p.set != "" {
			*p.def = *p.set
		}
	}
	return EtcdAccess{Endpoint: e.Endpoint, Files: f, Timeout: e.Timeout, cfg: e}
}

// Client loads the TLS files (each use re-reads them: certificates
// rotate) and returns a client.
func (a EtcdAccess) Client() (*etcd.Client, error) {
	return etcd.NewClient(a.Files, a.Timeout)
}

// Survey reads etcd's view through the endpoint with a fresh client.
func (a EtcdAccess) Survey(ctx context.Context) (etcd.Survey, error) {
	cl, err := a.Client()
	if err != nil {
		return etcd.Survey{Endpoint: a.Endpoint}, err
	}
	defer cl.HTTP.CloseIdleConnections()
	d := net.Dialer{Timeout: a.Timeout}
	return cl.Survey(ctx, a.Endpoint, d.DialContext)
}

// etcdVoters are the inventory's etcd hosts by name (nil without an
// inventory: nothing to compare).
func etcdVoters(c *cluster.Cluster) []string {
	if c == nil {
		return nil
	}
	out := []string{}
	for _, h := range c.EtcdMembers() {
		if !slices.Contains(out, h.Name) {
			out = append(out, h.Name)
		}
	}
	return out
}

// etcdCheck is the etcd check of a controller.
func etcdCheck(cfg config.Config, c *cluster.Cluster, node Node) *checks.Etcd {
	var layout cluster.Layout
	if c != nil {
		layout = c.Layout
	}
	a := EtcdAccessFor(cfg, layout)
	return &checks.Etcd{
		Node: node.Name, Endpoint: a.Endpoint, Survey: a.Survey, Inventory: etcdVoters(c),
		Runbook: etcd.RunbookFor(layout, node.Name), QuotaBytes: int64(a.cfg.QuotaBytes),
		DBWarn: a.cfg.DBWarnPercent, DBCrit: a.cfg.DBCritPercent, RaftLagWarn: a.cfg.RaftLagWarn,
	}
}

// RemoveMember removes member id through the endpoint (the dead-member
// cleanup's API method).
func (a EtcdAccess) RemoveMember(ctx context.Context, id uint64) error {
	cl, err := a.Client()
	if err != nil {
		return err
	}
	defer cl.HTTP.CloseIdleConnections()
	return cl.RemoveMember(ctx, a.Endpoint, id)
}
