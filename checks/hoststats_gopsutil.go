package checks

import (
	"context"
	"fmt"

	psCommon "github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
)

// HostGopsutil reads HostStats through gopsutil.
type HostGopsutil struct {
	// ProcDir is where /proc is ("" means /proc): gopsutil reads meminfo,
	// vmstat, cpuinfo and loadavg under it (its HOST_PROC, passed in the
	// context rather than the environment so nothing else is affected).
	ProcDir string
}

func (h HostGopsutil) ReadHost(ctx context.Context) (HostStats, error) {
	if h.ProcDir != "" && h.ProcDir != "/proc" {
		ctx = context.WithValue(ctx, psCommon.EnvKey, psCommon.EnvMap{psCommon.HostProcEnvKey: h.ProcDir})
	}
	var s HostStats
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return s, fmt.Errorf("memory (meminfo under %s): %w", h.procDir(), err)
	}
	s.MemTotal, s.MemAvailable = vm.Total, vm.Available
	sw, err := mem.SwapMemoryWithContext(ctx)
	if err != nil {
		return s, fmt.Errorf("swap (meminfo under %s): %w", h.procDir(), err)
	}
	s.SwapTotal, s.SwapUsed = sw.Total, sw.Used
	if s.CPUs, err = cpu.CountsWithContext(ctx, true); err != nil {
		return s, fmt.Errorf("CPU count (cpuinfo under %s): %w", h.procDir(), err)
	}
	avg, err := load.AvgWithContext(ctx)
	if err != nil {
		return s, fmt.Errorf("load average (loadavg under %s): %w", h.procDir(), err)
	}
	s.Load1, s.Load5, s.Load15 = avg.Load1, avg.Load5, avg.Load15
	return s, nil
}

func (h HostGopsutil) procDir() string {
	if h.ProcDir == "" {
		return "/proc"
	}
	return h.ProcDir
}
