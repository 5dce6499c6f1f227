package inventory

import "github.com/kuma-agent/kuma-agent/internal/cluster"

// groupRoles maps the installer's inventory groups to roles. A host gets
// the role of every group on its path from the top, so a site's own
// sub-group under kuma_worker still yields workers. Groups not listed
// (all, kuma, kuma_k0s, site groups) give no role.
var groupRoles = map[string]cluster.Role{
	"kuma_core":                        cluster.RoleCore,
	"kuma_core_peers":                  cluster.RoleCorePeer,
	"kuma_collector":                   cluster.RoleCollector,
	"kuma_correlator":                  cluster.RoleCorrelator,
	"kuma_storage":                     cluster.RoleStorage,
	"kuma_lb":                          cluster.RoleLB,
	"kuma_control_plane_master":        cluster.RoleController,
	"kuma_control_plane":               cluster.RoleController,
	"kuma_control_plane_master_worker": cluster.RoleControllerWorker,
	"kuma_control_plane_worker":        cluster.RoleControllerWorker,
	"kuma_worker":                      cluster.RoleWorker,
}

// k0sGroup is the parent group of the k0s part of an inventory.
const k0sGroup = "kuma_k0s"
