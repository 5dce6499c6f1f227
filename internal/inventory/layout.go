package inventory

import (
	"strconv"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// layoutFacts is what the layout decision looks at, gathered while parsing.
type layoutFacts struct {
	k0sHosts    bool // some host is declared under kuma_k0s
	deployToK8s bool // all.vars deploy_to_k8s is true
}

// detectLayout decides which HA design a YAML inventory describes, in this
// order (the first match wins):
//
//   - k0s: kuma_k0s has any host, or all.vars deploy_to_k8s is true (the
//     installer keys the Kubernetes install on that flag);
//   - expand: kuma_core_peers has hosts and there are no collector,
//     correlator or storage hosts (expand.sh only adds Core peers);
//   - single: exactly one distinct host carries everything;
//   - distributed: anything else.
//
// Acura is not decided here: an INI ha_env_file is always LayoutAcura.
func detectLayout(hosts []*cluster.Host, f layoutFacts) cluster.Layout {
	has := func(r cluster.Role) bool {
		for _, h := range hosts {
			if h.Roles.Has(r) {
				return true
			}
		}
		return false
	}
	switch {
	case f.k0sHosts || f.deployToK8s:
		return cluster.LayoutK0s
	case has(cluster.RoleCorePeer) && !has(cluster.RoleCollector) && !has(cluster.RoleCorrelator) && !has(cluster.RoleStorage):
		return cluster.LayoutExpand
	case len(hosts) == 1:
		return cluster.LayoutSingle
	default:
		return cluster.LayoutDistributed
	}
}

// truthy interprets an Ansible boolean variable: YAML booleans, and the
// strings Ansible's bool filter accepts, since inventories quote them.
func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		s := strings.ToLower(strings.TrimSpace(v))
		if s == "yes" || s == "on" {
			return true
		}
		b, _ := strconv.ParseBool(s)
		return b
	case int:
		return v != 0
	}
	return false
}
