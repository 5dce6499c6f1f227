package config

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// ResourcesCheck configures the resources check: per-role minimums, live
// limits on memory, swap and load, and the disk growth prediction.
type ResourcesCheck struct {
	// Minimums by role; a role listed here replaces its default row. A zero
	// field is not checked. The default has Acura's documented row only.
	Minimums map[cluster.Role]ResourceMinimum `yaml:"minimums" json:"minimums"`
	// Tolerance: a host may be this share below a minimum and pass (MemTotal
	// and a file system's size read a little under the VM's nominal size).
	Tolerance float64 `yaml:"tolerance" json:"tolerance"`
	// MemoryAvailableWarn/Crit: MemAvailable below this share of MemTotal.
	MemoryAvailableWarn float64 `yaml:"memory_available_warn" json:"memory_available_warn"`
	MemoryAvailableCrit float64 `yaml:"memory_available_crit" json:"memory_available_crit"`
	// SwapUsedWarn: swap in use above this share of the swap space.
	SwapUsedWarn float64 `yaml:"swap_used_warn" json:"swap_used_warn"`
	// LoadPerCPUWarn/Crit judge the 15-minute load average per CPU.
	LoadPerCPUWarn float64    `yaml:"load_per_cpu_warn" json:"load_per_cpu_warn"`
	LoadPerCPUCrit float64    `yaml:"load_per_cpu_crit" json:"load_per_cpu_crit"`
	Growth         DiskGrowth `yaml:"growth" json:"growth"`
	// ProcDir is where gopsutil reads meminfo, vmstat, cpuinfo and loadavg;
	// empty means paths.proc_dir. (Swap totals come from sysinfo(2).)
	ProcDir string `yaml:"proc_dir" json:"proc_dir"`
}

// ResourceMinimum is one role's row.
type ResourceMinimum struct {
	Memory ByteSize `yaml:"memory" json:"memory"`
	CPUs   int      `yaml:"cpus" json:"cpus"`
	// DataSize is the size of the file system holding DataPath.
	DataSize ByteSize `yaml:"data_size" json:"data_size"`
	DataPath string   `yaml:"data_path" json:"data_path"`
}

// DiskGrowth is the prediction of when each disk of the disk check falls
// below checks.disk.min_free, from a short in-memory history.
type DiskGrowth struct {
	// Window is how far back the fill rate is fitted.
	Window time.Duration `yaml:"window" json:"window"`
	// MinSamples and MinSpan: no prediction from less history.
	MinSamples int           `yaml:"min_samples" json:"min_samples"`
	MinSpan    time.Duration `yaml:"min_span" json:"min_span"`
	// MaxSamples bounds the history per file system.
	MaxSamples int `yaml:"max_samples" json:"max_samples"`
	// Warn and Crit: a predicted crossing sooner than these.
	Warn time.Duration `yaml:"warn" json:"warn"`
	Crit time.Duration `yaml:"crit" json:"crit"`
}

// CertsCheck configures the certs check.
type CertsCheck struct {
	// Warn and Crit: a certificate expiring sooner than these.
	Warn time.Duration `yaml:"warn" json:"warn"`
	Crit time.Duration `yaml:"crit" json:"crit"`
	// ExtraPaths are more PEM files or kubeconfigs (globs allowed) to read
	// besides the layouts' (kubeadm, k0s, KUMA) and the agent's route TLS files.
	ExtraPaths []string `yaml:"extra_paths" json:"extra_paths"`
}

// DefaultResources is Default's checks.resources.
func DefaultResources() ResourcesCheck {
	return ResourcesCheck{
		Minimums: map[cluster.Role]ResourceMinimum{
			cluster.RoleAcuraNode: {Memory: 16e9, CPUs: 8, DataSize: 200e9, DataPath: "/"},
		},
		Tolerance:           0.05,
		MemoryAvailableWarn: 0.10,
		MemoryAvailableCrit: 0.05,
		SwapUsedWarn:        0.5,
		LoadPerCPUWarn:      2,
		LoadPerCPUCrit:      0, // never critical: load is host-wide and weak evidence alone
		Growth: DiskGrowth{Window: 6 * time.Hour, MinSamples: 10, MinSpan: 30 * time.Minute, MaxSamples: 360,
			Warn: 24 * time.Hour, Crit: 4 * time.Hour},
	}
}

// DefaultCerts is Default's checks.certs.
func DefaultCerts() CertsCheck {
	return CertsCheck{Warn: 30 * 24 * time.Hour, Crit: 7 * 24 * time.Hour}
}

func (c *Config) validateResources(bad func(key, format string, args ...any)) {
	r := c.Checks.Resources
	for role, m := range r.Minimums {
		key := "checks.resources.minimums." + string(role)
		if _, err := cluster.ParseRole(string(role)); err != nil {
			bad(key, "%v", err)
		}
		if m.CPUs < 0 {
			bad(key+".cpus", "must not be negative, not %d", m.CPUs)
		}
		if m.DataSize > 0 && m.DataPath != "" && !filepath.IsAbs(m.DataPath) {
			bad(key+".data_path", "must be an absolute path, not %q", m.DataPath)
		}
	}
	ratio := func(key string, v float64) {
		if v <= 0 || v >= 1 {
			bad(key, "must be a share between 0 and 1 (0.1 = 10%%), not %v", v)
		}
	}
	ratio("checks.resources.tolerance", r.Tolerance)
	ratio("checks.resources.memory_available_warn", r.MemoryAvailableWarn)
	ratio("checks.resources.memory_available_crit", r.MemoryAvailableCrit)
	ratio("checks.resources.swap_used_warn", r.SwapUsedWarn)
	if r.MemoryAvailableCrit >= r.MemoryAvailableWarn {
		bad("checks.resources.memory_available_crit", "must be less than memory_available_warn (%v >= %v)", r.MemoryAvailableCrit, r.MemoryAvailableWarn)
	}
	if r.LoadPerCPUWarn <= 0 || (r.LoadPerCPUCrit != 0 && r.LoadPerCPUCrit <= r.LoadPerCPUWarn) {
		bad("checks.resources.load_per_cpu_warn", "must be positive and less than load_per_cpu_crit (%v, %v; 0: never critical)", r.LoadPerCPUWarn, r.LoadPerCPUCrit)
	}
	g := r.Growth
	for key, d := range map[string]time.Duration{"window": g.Window, "min_span": g.MinSpan, "warn": g.Warn, "crit": g.Crit} {
		if d <= 0 {
			bad("checks.resources.growth."+key, "must be a positive duration such as 30m, not %v", d)
		}
	}
	if g.MinSpan > g.Window {
		bad("checks.resources.growth.min_span", "must not exceed the window (%v > %v)", g.MinSpan, g.Window)
	}
	if g.Crit >= g.Warn {
		bad("checks.resources.growth.crit", "must be less than growth.warn (%v >= %v)", g.Crit, g.Warn)
	}
	if g.MinSamples < 2 {
		bad("checks.resources.growth.min_samples", "must be at least 2 (a line needs two points), not %d", g.MinSamples)
	}
	if g.MaxSamples < g.MinSamples || g.MaxSamples > 10000 {
		bad("checks.resources.growth.max_samples", "must be between min_samples (%d) and 10000, not %d", g.MinSamples, g.MaxSamples)
	}
	if r.ProcDir != "" && !filepath.IsAbs(r.ProcDir) {
		bad("checks.resources.proc_dir", "must be an absolute path or empty (paths.proc_dir), not %q", r.ProcDir)
	}
	cc := c.Checks.Certs
	if cc.Crit <= 0 || cc.Warn <= cc.Crit {
		bad("checks.certs.warn", "must be longer than checks.certs.crit, both positive (%v, %v)", cc.Warn, cc.Crit)
	}
	for i, p := range cc.ExtraPaths {
		if !filepath.IsAbs(p) {
			bad(fmt.Sprintf("checks.certs.extra_paths[%d]", i), "must be an absolute path, not %q", p)
		} else if _, err := filepath.Match(p, ""); err != nil {
			bad(fmt.Sprintf("checks.certs.extra_paths[%d]", i), "bad glob %q: %v", p, err)
		}
	}
}
