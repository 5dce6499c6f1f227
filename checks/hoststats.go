package checks

import "context"

// HostStats is what the resources check reads of the host: memory, swap,
// CPUs and load averages (gopsutil's numbers, /proc underneath).
type HostStats struct {
	// MemTotal is what the kernel manages (MemTotal in /proc/meminfo: the
	// installed RAM less what firmware and the kernel image reserve);
	// MemAvailable its estimate of what new work can get without swapping.
	MemTotal, MemAvailable uint64
	SwapTotal, SwapUsed    uint64
	// CPUs is the number of logical CPUs.
	CPUs int
	// Load1, Load5, Load15 are the run-queue averages over 1, 5 and 15 minutes.
	Load1, Load5, Load15 float64
}

// HostReader reads HostStats; the real one is gopsutil (HostGopsutil), tests
// pass a fake.
type HostReader interface {
	ReadHost(ctx context.Context) (HostStats, error)
}
