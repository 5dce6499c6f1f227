package checks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

type fakeHost struct {
	s   HostStats
	err error
}

func (f *fakeHost) ReadHost(context.Context) (HostStats, error) { return f.s, f.err }

// healthyHost meets the Acura minimums with room to spare.
func healthyHost() *fakeHost {
	return &fakeHost{s: HostStats{MemTotal: 32 << 30, MemAvailable: 20 << 30, CPUs: 8, Load1: 1, Load5: 1, Load15: 1}}
}

func fixedStat(u Usage) func(string) (Usage, error) {
	return func(string) (Usage, error) { return u, nil }
}

func TestResourcesBelowAcuraRAMMinimumIsNamed(t *testing.T) {
	host := healthyHost()
	host.s.MemTotal = 12 << 30
	host.s.MemAvailable = 8 << 30
	r := &Resources{Roles: cluster.Roles{cluster.RoleAcuraNode}, Host: host, Stat: fixedStat(Usage{TotalBytes: 210e9, FreeBytes: 100e9})}
	res := r.Run(context.Background())
	if res.Status != Warn {
		t.Fatalf("status %v, want warn: %+v", res.Status, res)
	}
	for _, want := range []string{"12.0 GiB", "16 GB", "acura-node"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message %q lacks %q", res.Message, want)
		}
	}
	if !strings.Contains(res.Remedy, "RAM") {
		t.Errorf("remedy %q", res.Remedy)
	}

	// The same host at 16 GiB (MemTotal a little under) passes: the
	// tolerance covers what the kernel keeps.
	host.s.MemTotal = 15800 << 20
	if res := r.Run(context.Background()); res.Status != OK {
		t.Fatalf("16 GiB host: %+v", res)
	}
}

func TestResourcesCPUAndDataPartitionMinimums(t *testing.T) {
	host := healthyHost()
	host.s.CPUs = 4
	var statted []string
	r := &Resources{Roles: cluster.Roles{cluster.RoleAcuraNode}, Host: host, Stat: func(p string) (Usage, error) {
		statted = append(statted, p)
		return Usage{TotalBytes: 100e9, FreeBytes: 90e9}, nil
	}}
	res := r.Run(context.Background())
	if res.Status != Warn {
		t.Fatalf("%+v", res)
	}
	all := res.Message + "\n" + strings.Join(res.Details, "\n")
	for _, want := range []string{"4 CPU(s), below the 8 minimum", "below the 200 GB minimum"} {
		if !strings.Contains(all, want) {
			t.Errorf("finding lacks %q:\n%s", want, all)
		}
	}
	if len(statted) == 0 || statted[0] != "/" {
		t.Errorf("data partition stat'ed at %v, want / first", statted)
	}
}

func TestResourcesKUMARolesHaveNoDefaultMinimum(t *testing.T) {
	host := healthyHost()
	host.s.MemTotal, host.s.MemAvailable, host.s.CPUs = 4<<30, 3<<30, 2
	r := &Resources{Roles: cluster.Roles{cluster.RoleCore, cluster.RoleStorage}, Host: host, Stat: fixedStat(Usage{TotalBytes: 50e9, FreeBytes: 40e9})}
	if res := r.Run(context.Background()); res.Status != OK {
		t.Fatalf("KUMA roles judged against an undocumented minimum: %+v", res)
	}
	// A site's own minimum applies; the largest over the roles wins.
	r.Minimums = map[cluster.Role]ResourceMinimum{cluster.RoleCore: {Memory: 8e9}, cluster.RoleStorage: {Memory: 16e9, CPUs: 4}}
	res := r.Run(context.Background())
	all := res.Message + "\n" + strings.Join(res.Details, "\n")
	if res.Status != Warn || !strings.Contains(all, "16 GB minimum for storage") || !strings.Contains(all, "below the 4 minimum for storage") {
		t.Fatalf("%+v", res)
	}
}

func TestResourcesMemorySwapLoad(t *testing.T) {
	cases := []struct {
		name string
		edit func(*HostStats)
		want Status
		msg  string
	}{
		{"ok", func(*HostStats) {}, OK, ""},
		{"memory low", func(s *HostStats) { s.MemAvailable = 3 << 30 }, Warn, "of RAM available"},
		{"memory critical", func(s *HostStats) { s.MemAvailable = 1 << 30 }, Crit, "of RAM available"},
		{"swap", func(s *HostStats) { s.SwapTotal, s.SwapUsed = 4<<30, 3<<30 }, Warn, "swap in use"},
		{"swap unused", func(s *HostStats) { s.SwapTotal, s.SwapUsed = 4<<30, 1<<30 }, OK, ""},
		{"load", func(s *HostStats) { s.Load15 = 20 }, Warn, "load is 2.50 per CPU"},
		// Load is host-wide (also in a container): by default never more than a warning.
		{"load very high", func(s *HostStats) { s.Load15 = 400 }, Warn, "per CPU"},
		{"load burst only", func(s *HostStats) { s.Load1 = 80 }, OK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			host := healthyHost()
			c.edit(&host.s)
			r := &Resources{Host: host, Stat: fixedStat(Usage{TotalBytes: 100e9, FreeBytes: 90e9})}
			res := r.Run(context.Background())
			if res.Status != c.want || !strings.Contains(res.Message, c.msg) {
				t.Fatalf("got %v %q, want %v containing %q", res.Status, res.Message, c.want, c.msg)
			}
		})
	}
}

// A site that wants load to page sets load_per_cpu_crit.
func TestResourcesLoadCriticalWhenConfigured(t *testing.T) {
	host := healthyHost()
	host.s.Load15 = 40
	r := &Resources{Host: host, Stat: fixedStat(Usage{TotalBytes: 100e9, FreeBytes: 90e9}), LoadPerCPUCrit: 4}
	if res := r.Run(context.Background()); res.Status != Crit || !strings.Contains(res.Message, "5.00 per CPU") {
		t.Fatalf("got %v %q, want crit at 5.00 per CPU", res.Status, res.Message)
	}
}

func TestResourcesHostErrorIsUnknown(t *testing.T) {
	r := &Resources{Host: &fakeHost{err: errors.New("open /proc/meminfo: permission denied")}, Stat: fixedStat(Usage{TotalBytes: 1e9, FreeBytes: 1e9})}
	res := r.Run(context.Background())
	if res.Status != Unknown || !strings.Contains(res.Message, "/proc/meminfo") {
		t.Fatalf("%+v", res)
	}
}

// fillingDisk is a file system losing rate bytes of free space per second
// of the fake clock.
type fillingDisk struct {
	now   time.Time
	start time.Time
	free0 float64
	rate  float64
	total uint64
}

func (d *fillingDisk) stat(string) (Usage, error) {
	free := d.free0 - d.rate*d.now.Sub(d.start).Seconds()
	if free < 0 {
		free = 0
	}
	return Usage{FreeBytes: uint64(free), TotalBytes: d.total, Dev: 7, Mount: "/var/lib"}, nil
}

func TestResourcesPredictsAConstantFillBeforeTheThreshold(t *testing.T) {
	const minFree = 32 << 30
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	// 40 GiB above the threshold, filling 1 GiB an hour: crosses after 40 h.
	d := &fillingDisk{now: start, start: start, free0: minFree + 40<<30, rate: float64(1<<30) / 3600, total: 500 << 30}
	r := &Resources{Host: healthyHost(), Stat: d.stat, Now: func() time.Time { return d.now },
		DiskPaths: []string{"/var/lib"}, MinFree: minFree, Growth: &DiskGrowth{}}
	cross := start.Add(40 * time.Hour)

	var firstWarn, firstCrit time.Time
	var eta float64
	for d.now.Before(cross) {
		res := r.Run(context.Background())
		switch {
		case res.Status == Crit && firstCrit.IsZero():
			firstCrit = d.now
			if !strings.Contains(res.Message, "/var/lib fills at 10") || !strings.Contains(res.Message, "below the disk check's 32.0 GiB free in 3h") || !strings.Contains(res.Remedy, "du -xh") {
				t.Errorf("crit finding: %+v", res)
			}
		case res.Status == Warn && firstWarn.IsZero():
			firstWarn = d.now
		case res.Status != OK && res.Status != Warn && res.Status != Crit:
			t.Fatalf("at %v: %+v", d.now, res)
		}
		if firstWarn.IsZero() && d.now.Sub(start) < 15*time.Hour && res.Status != OK {
			t.Fatalf("alert at %v, more than a day before the crossing: %+v", d.now, res)
		}
		for _, s := range r.Samples() {
			if s.Metric == MetricDiskThresholdETA {
				eta = s.Value
			}
		}
		d.now = d.now.Add(30 * time.Second)
	}
	// Warned close to 24 h before, critical close to 4 h before, both
	// before the disk check's threshold is crossed.
	if firstWarn.IsZero() || cross.Sub(firstWarn) < 23*time.Hour || cross.Sub(firstWarn) > 24*time.Hour+time.Minute {
		t.Errorf("first warning at %v, %v before the crossing", firstWarn, cross.Sub(firstWarn))
	}
	if firstCrit.IsZero() || cross.Sub(firstCrit) < 3*time.Hour || cross.Sub(firstCrit) > 4*time.Hour+time.Minute {
		t.Errorf("first critical at %v, %v before the crossing", firstCrit, cross.Sub(firstCrit))
	}
	if eta <= 0 || eta > 60 {
		t.Errorf("last ETA metric %v s, want the last half minute", eta)
	}
	if n := len(r.Growth.hist["dev:7"].samples); n > DefaultGrowthMaxSamples+2 {
		t.Errorf("history holds %d samples, bound %d", n, DefaultGrowthMaxSamples)
	}
}

func TestResourcesGrowthNeedsSamplesAndSpan(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	d := &fillingDisk{now: start, start: start, free0: 40 << 30, rate: float64(4<<30) / 3600, total: 500 << 30}
	r := &Resources{Host: healthyHost(), Stat: d.stat, Now: func() time.Time { return d.now },
		MinFree: 32 << 30, Growth: &DiskGrowth{MinSamples: 5, MinSpan: 20 * time.Minute}}
	// Filling fast (crossing in 2 h) but only 15 minutes of history: nothing predicted.
	for range 16 {
		if res := r.Run(context.Background()); res.Status != OK {
			t.Fatalf("predicted from %v of history: %+v", d.now.Sub(start), res)
		}
		d.now = d.now.Add(time.Minute)
	}
	d.now = d.now.Add(5 * time.Minute)
	if res := r.Run(context.Background()); res.Status != Crit {
		t.Fatalf("after 21 minutes: %+v", res)
	}
}

func TestResourcesFlatShrinkingAndCleanedDisksPredictNothing(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		name string
		rate float64
	}{{"flat", 0}, {"shrinking", -float64(1<<30) / 3600}} {
		t.Run(c.name, func(t *testing.T) {
			d := &fillingDisk{now: start, start: start, free0: 40 << 30, rate: c.rate, total: 500 << 30}
			r := &Resources{Host: healthyHost(), Stat: d.stat, Now: func() time.Time { return d.now }, MinFree: 32 << 30, Growth: &DiskGrowth{}}
			for range 200 {
				if res := r.Run(context.Background()); res.Status != OK {
					t.Fatalf("%+v", res)
				}
				d.now = d.now.Add(time.Minute)
			}
			for _, s := range r.Samples() {
				if s.Metric == MetricDiskThresholdETA {
					t.Fatalf("ETA published for a %s disk: %v", c.name, s.Value)
				}
			}
		})
	}

	// A cleanup (free space jumps up) drops the history: the old slope does
	// not predict the new run.
	d := &fillingDisk{now: start, start: start, free0: 40 << 30, rate: float64(1<<30) / 3600, total: 500 << 30}
	r := &Resources{Host: healthyHost(), Stat: d.stat, Now: func() time.Time { return d.now }, MinFree: 32 << 30, Growth: &DiskGrowth{}}
	for range 120 {
		r.Run(context.Background())
		d.now = d.now.Add(time.Minute)
	}
	d.free0 += 50 << 30 // cleanup, then the disk stays flat
	d.rate = 0
	d.start, d.free0 = d.now, d.free0-float64(2<<30)
	r.Run(context.Background())
	if n := len(r.Growth.hist["dev:7"].samples); n != 1 {
		t.Fatalf("history after a cleanup has %d samples, want 1", n)
	}
}

func TestResourcesSamples(t *testing.T) {
	host := healthyHost()
	host.s.Load5 = 4
	r := &Resources{Host: host, Stat: fixedStat(Usage{TotalBytes: 100e9, FreeBytes: 90e9, Dev: 3}), Growth: &DiskGrowth{}}
	r.Run(context.Background())
	got := map[string]float64{}
	for _, s := range r.Samples() {
		if len(s.Labels) != len(s.Metric.Labels) {
			t.Fatalf("%s: labels %v for %v", s.Metric.Name, s.Labels, s.Metric.Labels)
		}
		got[s.Metric.Name+"/"+strings.Join(s.Labels, ",")] = s.Value
	}
	for k, v := range map[string]float64{
		"kuma_agent_memory_total_bytes/":      32 << 30,
		"kuma_agent_memory_available_bytes/":  20 << 30,
		"kuma_agent_cpus/":                    8,
		"kuma_agent_load_per_cpu_ratio/5m":    0.5,
		"kuma_agent_disk_free_bytes//var/lib": 90e9,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// BenchmarkResourcesRun is the per-run cost on this host: gopsutil reading
// /proc, statfs of the disk paths, the growth fit over a full history.
func BenchmarkResourcesRun(b *testing.B) {
	r := &Resources{Roles: cluster.Roles{cluster.RoleAcuraNode}, DiskPaths: []string{"/"}, Growth: &DiskGrowth{}}
	// A full history: the fit's worst case.
	now := time.Now()
	for i := range DefaultGrowthMaxSamples {
		r.Growth.Observe("dev:bench", now.Add(time.Duration(i-DefaultGrowthMaxSamples)*time.Minute), Usage{FreeBytes: uint64(100e9 - i*1e6), TotalBytes: 200e9}, 32<<30)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if res := r.Run(ctx); res.Status == Unknown {
			b.Fatal(res.Message)
		}
	}
}

func BenchmarkGrowthObserveFullHistory(b *testing.B) {
	g := &DiskGrowth{}
	now := time.Now()
	i := 0
	for b.Loop() {
		g.Observe("k", now.Add(time.Duration(i)*time.Minute), Usage{FreeBytes: uint64(100e9 - i*1000), TotalBytes: 200e9}, 32<<30)
		i++
	}
}

// The daemon's history survives a restart: a new check reading the file
// predicts at its first run; a damaged file is named and replaced.
func TestDiskGrowthHistoryPersists(t *testing.T) {
	file := filepath.Join(t.TempDir(), "disk-growth.json")
	start := time.Unix(1_800_000_000, 0)
	d := &fillingDisk{now: start, start: start, free0: 40 << 30, rate: float64(1<<30) / 3600, total: 500 << 30}
	newCheck := func() *Resources {
		return &Resources{Host: healthyHost(), Stat: d.stat, Now: func() time.Time { return d.now }, MinFree: 32 << 30, Growth: &DiskGrowth{File: file}}
	}
	r := newCheck()
	for range 40 {
		r.Run(context.Background())
		d.now = d.now.Add(time.Minute)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("history file: %v %v", st, err)
	}
	res := newCheck().Run(context.Background()) // a restart: 8 h to the crossing
	if res.Status != Warn || !strings.Contains(res.Message, "/var/lib fills at") {
		t.Fatalf("after a restart: %+v", res)
	}

	if err := os.WriteFile(file, []byte(`{"version":1,"fs":{"dev:7":{"total":1,"samples":[{"t":5,"free":1},{"t":1,"free":1}]}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	res = newCheck().Run(context.Background())
	if res.Status != OK || !strings.Contains(strings.Join(res.Details, "\n"), "disk growth history not read, started afresh: "+file+": dev:7: sample 1 is out of order") {
		t.Fatalf("damaged file: %+v", res)
	}
	b, _ := os.ReadFile(file)
	if !strings.Contains(string(b), `"version":1`) || strings.Contains(string(b), `"t":5`) {
		t.Fatalf("damaged file not replaced: %s", b)
	}
}

func FuzzDiskGrowthHistoryFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"fs":{"dev:7":{"total":100,"samples":[{"t":1,"free":50},{"t":60001,"free":49}]}}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"fs":{"a":{"samples":[{"t":-9223372036854775808,"free":-1}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "h.json")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		g := &DiskGrowth{File: file}
		p := g.Observe("dev:7", time.Unix(1_800_000_000, 0), Usage{FreeBytes: 40, TotalBytes: 100}, 10)
		if err := g.LoadError(); err != nil && !strings.Contains(err.Error(), file) {
			t.Fatalf("error does not name the file: %v", err)
		}
		if p.Samples > DefaultGrowthMaxSamples+2 || p.Fitted && p.Filling && p.ETA < 0 {
			t.Fatalf("%+v", p)
		}
		if len(g.hist) > maxGrowthFileSystems+1 {
			t.Fatalf("%d histories", len(g.hist))
		}
	})
}
