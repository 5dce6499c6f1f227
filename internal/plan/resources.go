package plan

import (
	"cmp"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
)

// resourcesCheck is the resources check of cfg for node: its roles'
// minimums, and the disk check's paths and threshold for the growth
// prediction (one history per check instance: the daemon's lives as long
// as it runs).
func resourcesCheck(cfg config.Config, node Node) *checks.Resources {
	rc := cfg.Checks.Resources
	mins := make(map[cluster.Role]checks.ResourceMinimum, len(rc.Minimums))
	for role, m := range rc.Minimums {
		row := checks.ResourceMinimum{Memory: uint64(m.Memory), CPUs: m.CPUs, DataSize: uint64(m.DataSize), DataPath: m.DataPath}
		if def, ok := checks.DefaultResourceMinimums[role]; ok && row.Memory == def.Memory && row.CPUs == def.CPUs && row.DataSize == def.DataSize {
			row.Source = def.Source // the vendor's row, unchanged: say whose it is
		}
		mins[role] = row
	}
	g := rc.Growth
	return &checks.Resources{
		Roles: node.Roles, Minimums: mins, Tolerance: rc.Tolerance,
		MemoryAvailableWarn: rc.MemoryAvailableWarn, MemoryAvailableCrit: rc.MemoryAvailableCrit,
		SwapUsedWarn: rc.SwapUsedWarn, LoadPerCPUWarn: rc.LoadPerCPUWarn, LoadPerCPUCrit: rc.LoadPerCPUCrit,
		DiskPaths: cfg.Paths.DiskPaths, DataDirs: cfg.Paths.DataDirs, MinFree: uint64(cfg.Checks.Disk.MinFree),
		Growth: &checks.DiskGrowth{Window: g.Window, MinSamples: g.MinSamples, MinSpan: g.MinSpan, MaxSamples: g.MaxSamples, Warn: g.Warn, Crit: g.Crit},
		Host:   checks.HostGopsutil{ProcDir: cmp.Or(rc.ProcDir, cfg.Paths.ProcDir)},
	}
}
