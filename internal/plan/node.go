package plan

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
)

// Node is who this host is in the cluster.
type Node struct {
	Name  string
	Roles cluster.Roles
	// Self is the inventory's entry for this node, nil when absent.
	Self *cluster.Host
	// RolesFrom says where Roles came from: "config", "inventory" or "none".
	RolesFrom string
}

// ResolveNode works out this node's name and roles: the config's node_name,
// else `hostname -f`; the config's roles, else the inventory's.
func ResolveNode(ctx context.Context, cfg config.Config, c *cluster.Cluster, cmd checks.Commander) (Node, error) {
	n := Node{Name: cfg.NodeName}
	if n.Name == "" {
		out, err := cmd.Run(ctx, cfg.Paths.HostnameBin, "-f")
		n.Name = strings.TrimSpace(string(out))
		if err != nil || n.Name == "" {
			h, herr := os.Hostname()
			if herr != nil {
				return n, fmt.Errorf("node name: `%s -f` failed (%v) and so did os.Hostname: %w", cfg.Paths.HostnameBin, err, herr)
			}
			n.Name = h
		}
	}
	if c != nil {
		n.Self = c.Host(n.Name)
	}
	switch {
	case len(cfg.Roles) > 0:
		for _, r := range cfg.Roles {
			n.Roles = n.Roles.Add(r)
		}
		n.RolesFrom = "config"
	case n.Self != nil:
		n.Roles = n.Self.Roles
		n.RolesFrom = "inventory"
	default:
		n.RolesFrom = "none"
	}
	return n, nil
}
