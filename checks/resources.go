package checks

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// ResourceMinimum is what a role needs of its host, as its vendor documents
// it. A zero field is not checked.
type ResourceMinimum struct {
	// Memory is the RAM the role needs, compared with MemTotal.
	Memory uint64
	CPUs   int
	// DataSize is the size of the file system holding DataPath.
	DataSize uint64
	DataPath string
	// Source says where the numbers come from, for the finding.
	Source string
}

// DefaultResourceMinimums are the minimums the vendors document, by role.
// KUMA's roles have none here: the reference this agent is built from
// documents only "32 GB free in /var/lib" (the disk check's rule), so a
// site sets its KUMA version's hardware requirements in agent.yaml
// (checks.resources.minimums).
var DefaultResourceMinimums = map[cluster.Role]ResourceMinimum{
	cluster.RoleAcuraNode: {Memory: 16e9, CPUs: 8, DataSize: 200e9, DataPath: "/",
		Source: "Acura HA prerequisites: at least 16 GB RAM, 8 vCPU and a single 200 GB partition per node"},
}

// Resources defaults, used when the fields are zero (config.Default sets the same).
const (
	// DefaultResourceTolerance: a host may have this share less than a
	// minimum and pass: MemTotal is the installed RAM less what firmware
	// and kernel keep, and a file system is its partition less its
	// metadata, so a VM of exactly "16 GB" and "200 GB" reads a little less.
	DefaultResourceTolerance   = 0.05
	DefaultMemoryAvailableWarn = 0.10
	DefaultMemoryAvailableCrit = 0.05
	DefaultSwapUsedWarn        = 0.5
	DefaultLoadPerCPUWarn      = 2.0
	// DefaultLoadPerCPUCrit is far above any real load: load alone is never critical
	// unless a site says so (the load average is host-wide, also inside a container, and a
	// busy build or test machine is not an outage).
	DefaultLoadPerCPUCrit = math.MaxFloat64
)

// Metrics the resources check measures.
var (
	MetricMemoryTotal      = &Metric{Name: "kuma_agent_memory_total_bytes", Help: "RAM the kernel manages (MemTotal)."}
	MetricMemoryAvailable  = &Metric{Name: "kuma_agent_memory_available_bytes", Help: "RAM available to new work without swapping (MemAvailable)."}
	MetricSwapTotal        = &Metric{Name: "kuma_agent_swap_total_bytes", Help: "Swap space configured."}
	MetricSwapUsed         = &Metric{Name: "kuma_agent_swap_used_bytes", Help: "Swap space in use."}
	MetricCPUs             = &Metric{Name: "kuma_agent_cpus", Help: "Logical CPUs."}
	MetricLoadPerCPU       = &Metric{Name: "kuma_agent_load_per_cpu_ratio", Help: "Load average divided by the logical CPUs, over 1, 5 and 15 minutes.", Labels: []string{"window"}}
	MetricDiskFree         = &Metric{Name: "kuma_agent_disk_free_bytes", Help: "Free bytes (f_bavail) of each file system the disk check judges, by its first path.", Labels: []string{"path"}}
	MetricDiskFillRate     = &Metric{Name: "kuma_agent_disk_fill_rate_bytes_per_second", Help: "How fast free space shrinks, fitted over the growth window (negative: it grows); absent until enough samples.", Labels: []string{"path"}}
	MetricDiskThresholdETA = &Metric{Name: "kuma_agent_disk_threshold_eta_seconds", Help: "Predicted seconds until free space falls below the disk check's min_free; present only while it is filling.", Labels: []string{"path"}}
)

// Resources checks the host against its roles' minimums (RAM, CPUs, data
// partition), and its live state: memory available, swap in use, load per
// CPU, and how soon each disk the disk check judges falls below that
// check's threshold at the rate it is filling.
type Resources struct {
	Roles cluster.Roles
	// Minimums by role; nil means DefaultResourceMinimums. A node with
	// several roles needs the largest of each.
	Minimums map[cluster.Role]ResourceMinimum
	// Tolerance: a host this share below a minimum passes; 0: the default.
	Tolerance float64
	// MemoryAvailableWarn/Crit: MemAvailable below this share of MemTotal.
	MemoryAvailableWarn, MemoryAvailableCrit float64
	// SwapUsedWarn: swap in use above this share of the swap space.
	SwapUsedWarn float64
	// LoadPerCPUWarn/Crit judge the 15-minute load average per CPU: the
	// longest one, so a burst does not alert.
	LoadPerCPUWarn, LoadPerCPUCrit float64

	// DiskPaths and DataDirs are the disk check's (DataDirs only when they
	// exist); MinFree is its threshold, the line the prediction is about.
	DiskPaths, DataDirs []string
	MinFree             uint64
	Growth              *DiskGrowth

	// Host reads memory, CPUs and load; nil means gopsutil on /proc.
	Host HostReader
	// Stat reports the file system holding path; nil means statfs(2).
	Stat func(path string) (Usage, error)
	// Now is the clock of the disk history; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	samples []Sample
}

func (*Resources) Name() string { return "resources" }
func (*Resources) Area() Area   { return AreaHost }

// Samples are the numbers of the latest run.
func (r *Resources) Samples() []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.samples)
}

func (r *Resources) Run(ctx context.Context) Result {
	host := r.Host
	if host == nil {
		host = HostGopsutil{}
	}
	stat := r.Stat
	if stat == nil {
		stat = StatFS
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	res := Result{Status: OK}
	var samples []Sample
	report := func(s Status, msg, remedy string) { diskReport(&res, s, msg, remedy) }

	hs, err := host.ReadHost(ctx)
	if err != nil {
		report(Unknown, "cannot read memory, CPUs or load: "+err.Error(), "Check that /proc is mounted and readable by root (paths.proc_dir).")
	} else {
		samples = append(samples, r.judgeHost(&res, hs, stat)...)
	}
	if ctx.Err() != nil {
		return Unknownf("check cancelled: "+ctx.Err().Error(), "")
	}
	samples = append(samples, r.judgeGrowth(ctx, &res, stat, now())...)

	r.mu.Lock()
	r.samples = samples
	r.mu.Unlock()
	if res.Status == OK {
		res.Message = "memory, CPUs, load and disk growth within limits"
		res.Remedy = ""
	}
	return res
}

// minimum is the strictest of the roles' minimums, with the sources that set it.
func (r *Resources) minimum() (ResourceMinimum, map[string]string) {
	table := r.Minimums
	if table == nil {
		table = DefaultResourceMinimums
	}
	var m ResourceMinimum
	why := map[string]string{}
	for _, role := range r.Roles {
		row, ok := table[role]
		if !ok {
			continue
		}
		label := string(role) + " (" + cmp.Or(row.Source, "agent.yaml checks.resources.minimums") + ")"
		if row.Memory > m.Memory {
			m.Memory, why["memory"] = row.Memory, label
		}
		if row.CPUs > m.CPUs {
			m.CPUs, why["cpus"] = row.CPUs, label
		}
		if row.DataSize > m.DataSize {
			m.DataSize, m.DataPath, why["data"] = row.DataSize, cmp.Or(row.DataPath, "/"), label
		}
	}
	return m, why
}

func (r *Resources) judgeHost(res *Result, hs HostStats, stat func(string) (Usage, error)) []Sample {
	report := func(s Status, msg, remedy string) { diskReport(res, s, msg, remedy) }
	tol := 1 - cmp.Or(r.Tolerance, DefaultResourceTolerance)
	min, why := r.minimum()
	if min.Memory > 0 && float64(hs.MemTotal) < float64(min.Memory)*tol {
		report(Warn, fmt.Sprintf("this host has %s of RAM, below the %s minimum for %s", diskBytes(hs.MemTotal), decimalBytes(min.Memory), why["memory"]),
			"Give the host more RAM (the VM's memory size), or correct its role in the inventory or agent.yaml.")
	}
	if min.CPUs > 0 && hs.CPUs < min.CPUs {
		report(Warn, fmt.Sprintf("this host has %d CPU(s), below the %d minimum for %s", hs.CPUs, min.CPUs, why["cpus"]),
			"Give the host more vCPUs, or correct its role in the inventory or agent.yaml.")
	}
	if min.DataSize > 0 {
		if u, err := stat(min.DataPath); err != nil {
			report(Unknown, fmt.Sprintf("cannot stat %s (the data partition of %s): %v", min.DataPath, why["data"], err), "Run the agent as root; correct data_path in checks.resources.minimums.")
		} else if float64(u.TotalBytes) < float64(min.DataSize)*tol {
			report(Warn, fmt.Sprintf("the file system holding %s is %s, below the %s minimum for %s", min.DataPath, diskBytes(u.TotalBytes), decimalBytes(min.DataSize), why["data"]),
				"Grow the partition (and the file system: `resize2fs` or `xfs_growfs`) to the documented size.")
		}
	}
	res.Details = append(res.Details, fmt.Sprintf("RAM %s (%s available), swap %s used of %s, %d CPU(s), load %.2f %.2f %.2f",
		diskBytes(hs.MemTotal), diskBytes(hs.MemAvailable), diskBytes(hs.SwapUsed), diskBytes(hs.SwapTotal), hs.CPUs, hs.Load1, hs.Load5, hs.Load15))

	if hs.MemTotal > 0 {
		avail := float64(hs.MemAvailable) / float64(hs.MemTotal)
		msg := fmt.Sprintf("only %s of RAM available (%.1f%% of %s)", diskBytes(hs.MemAvailable), avail*100, diskBytes(hs.MemTotal))
		const remedy = "Find what holds memory: `ps -eo pid,rss,comm --sort=-rss | head`; `systemd-cgtop -m`. KUMA's storage (ClickHouse) and the Core are the usual large consumers."
		switch {
		case avail < cmp.Or(r.MemoryAvailableCrit, DefaultMemoryAvailableCrit):
			report(Crit, msg, remedy)
		case avail < cmp.Or(r.MemoryAvailableWarn, DefaultMemoryAvailableWarn):
			report(Warn, msg, remedy)
		}
	}
	if hs.SwapTotal > 0 {
		if used := float64(hs.SwapUsed) / float64(hs.SwapTotal); used > cmp.Or(r.SwapUsedWarn, DefaultSwapUsedWarn) {
			report(Warn, fmt.Sprintf("%.0f%% of swap in use (%s of %s): the host is short of RAM", used*100, diskBytes(hs.SwapUsed), diskBytes(hs.SwapTotal)),
				"Find what holds memory (`ps -eo pid,rss,comm --sort=-rss | head`) and give the host more RAM; Kubernetes nodes (Acura, k0s) should run without swap.")
		}
	}
	samples := []Sample{
		{Metric: MetricMemoryTotal, Value: float64(hs.MemTotal)},
		{Metric: MetricMemoryAvailable, Value: float64(hs.MemAvailable)},
		{Metric: MetricSwapTotal, Value: float64(hs.SwapTotal)},
		{Metric: MetricSwapUsed, Value: float64(hs.SwapUsed)},
		{Metric: MetricCPUs, Value: float64(hs.CPUs)},
	}
	if hs.CPUs > 0 {
		cpus := float64(hs.CPUs)
		for _, w := range []struct {
			label string
			v     float64
		}{{"1m", hs.Load1}, {"5m", hs.Load5}, {"15m", hs.Load15}} {
			samples = append(samples, Sample{Metric: MetricLoadPerCPU, Labels: []string{w.label}, Value: w.v / cpus})
		}
		per := hs.Load15 / cpus
		msg := fmt.Sprintf("15-minute load is %.2f per CPU (%.2f on %d CPUs)", per, hs.Load15, hs.CPUs)
		const remedy = "Find what runs: `top -o %CPU`, and what waits on disk (load counts D-state tasks): `vmstat 1 5`, `iostat -x 1 5`."
		switch {
		case per > cmp.Or(r.LoadPerCPUCrit, DefaultLoadPerCPUCrit):
			report(Crit, msg, remedy)
		case per > cmp.Or(r.LoadPerCPUWarn, DefaultLoadPerCPUWarn):
			report(Warn, msg, remedy)
		}
	}
	return samples
}

// judgeGrowth samples each file system of the disk check and predicts its
// crossing of the disk check's threshold.
func (r *Resources) judgeGrowth(ctx context.Context, res *Result, stat func(string) (Usage, error), now time.Time) []Sample {
	if r.Growth == nil {
		return nil
	}
	paths := r.DiskPaths
	if paths == nil {
		paths = DefaultDiskPaths
	}
	minFree := cmp.Or(r.MinFree, DefaultDiskMinFree)
	// Missing paths and stat errors are the disk check's findings: here
	// they only mean nothing to sample.
	targets, err := diskTargets(ctx, stat, paths, r.DataDirs, func(Status, string, string) {}, func(string) {})
	if err != nil {
		return nil
	}
	g := r.Growth
	keep := map[string]bool{}
	var samples []Sample
	for _, t := range targets {
		key := t.paths[0]
		if t.u.Dev != 0 {
			key = "dev:" + strconv.FormatUint(t.u.Dev, 10)
		}
		keep[key] = true
		p := g.Observe(key, now, t.u, minFree)
		label := t.paths[0]
		where := strings.Join(t.paths, ", ")
		samples = append(samples, Sample{Metric: MetricDiskFree, Labels: []string{label}, Value: float64(t.u.FreeBytes)})
		if !p.Fitted {
			res.Details = append(res.Details, fmt.Sprintf("%s: growth not predicted yet (%d sample(s) over %s; needs %d over %s)",
				where, p.Samples, p.Span.Round(time.Second), g.minSamples(), g.minSpan()))
			continue
		}
		samples = append(samples, Sample{Metric: MetricDiskFillRate, Labels: []string{label}, Value: p.Rate})
		if !p.Filling {
			res.Details = append(res.Details, fmt.Sprintf("%s: not filling (free space changes by %s/h)", where, signedBytes(-p.Rate*3600)))
			continue
		}
		samples = append(samples, Sample{Metric: MetricDiskThresholdETA, Labels: []string{label}, Value: p.ETA.Seconds()})
		at := now.Add(p.ETA)
		msg := fmt.Sprintf("%s fills at %s/h: below the disk check's %s free in %s (about %s)",
			where, diskBytes(uint64(p.Rate*3600)), diskBytes(minFree), p.ETA.Round(time.Minute), at.Format("2006-01-02 15:04 MST"))
		remedy := diskSpaceRemedy(t) + " Find what is writing now: `iotop -o` or `find " + t.paths[0] + " -xdev -mmin -60 -size +100M`."
		switch {
		case p.ETA < g.crit():
			diskReport(res, Crit, msg, remedy)
		case p.ETA < g.warn():
			diskReport(res, Warn, msg, remedy)
		default:
			res.Details = append(res.Details, msg)
		}
	}
	g.Forget(keep)
	if err := g.LoadError(); err != nil {
		res.Details = append(res.Details, "disk growth history not read, started afresh: "+err.Error())
	}
	if err := g.Save(now); err != nil {
		res.Details = append(res.Details, "disk growth history not saved (kept in memory): "+err.Error())
	}
	return samples
}

// decimalBytes prints a vendor's size as the vendor wrote it ("16 GB").
func decimalBytes(n uint64) string {
	if n%1e9 == 0 {
		return strconv.FormatUint(n/1e9, 10) + " GB"
	}
	return diskBytes(n)
}

func signedBytes(v float64) string {
	if v < 0 {
		return "-" + diskBytes(uint64(-v))
	}
	return "+" + diskBytes(uint64(v))
}
