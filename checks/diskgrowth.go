package checks

import (
	"cmp"
	"sync"
	"time"
)

// Disk growth defaults, used when DiskGrowth's fields are zero (config.Default
// sets the same).
const (
	DefaultGrowthWindow     = 6 * time.Hour
	DefaultGrowthMinSamples = 10
	DefaultGrowthMinSpan    = 30 * time.Minute
	DefaultGrowthMaxSamples = 360
	DefaultGrowthWarn       = 24 * time.Hour
	DefaultGrowthCrit       = 4 * time.Hour
)

// growthCleanupRatio: free space rising by more than this share of the file
// system between two readings is a cleanup (or a resize), not noise: the
// history before it says nothing about the rate from now on.
const growthCleanupRatio = 0.01

// DiskGrowth keeps a short history of each file system's free space, in
// memory, and predicts when it falls below the disk check's threshold. The
// history is bounded: samples older than Window go, and samples closer
// together than Window/MaxSamples replace the latest instead of adding one.
// A restart starts the history afresh (nothing is predicted until MinSpan
// has passed again).
type DiskGrowth struct {
	// Window is how far back the rate is fitted; 0 means DefaultGrowthWindow.
	Window time.Duration
	// MinSamples and MinSpan: no prediction from fewer samples or a shorter
	// stretch of time (0: the defaults).
	MinSamples int
	MinSpan    time.Duration
	// MaxSamples bounds the history per file system; 0: DefaultGrowthMaxSamples.
	MaxSamples int
	// Warn and Crit: a predicted crossing sooner than these (0: the defaults).
	Warn, Crit time.Duration

	// File keeps the history across restarts (the daemon: in its state
	// directory); "" keeps it in memory only.
	File string

	mu     sync.Mutex
	hist   map[string]*growthHistory
	loaded bool
	// loadErr is the error of reading File, reported once.
	loadErr error
	saved   time.Time
}

type growthSample struct {
	at   time.Time
	free float64
}

type growthHistory struct {
	total   uint64
	samples []growthSample
}

// GrowthPrediction is what DiskGrowth says of one file system.
type GrowthPrediction struct {
	// Rate is how fast free space shrinks, bytes per second, fitted by
	// least squares over the window; negative: it grows. Valid only with Fitted.
	Rate   float64
	Fitted bool
	// Filling: Rate is positive and free space is above the threshold, so
	// ETA (from the latest sample to the crossing) is meaningful.
	Filling bool
	ETA     time.Duration
	// Samples and Span are what the fit had (or, when not Fitted, what was
	// missing).
	Samples int
	Span    time.Duration
}

func (g *DiskGrowth) window() time.Duration { return cmp.Or(g.Window, DefaultGrowthWindow) }
func (g *DiskGrowth) minSamples() int       { return cmp.Or(g.MinSamples, DefaultGrowthMinSamples) }
func (g *DiskGrowth) minSpan() time.Duration {
	return cmp.Or(g.MinSpan, DefaultGrowthMinSpan)
}
func (g *DiskGrowth) maxSamples() int     { return cmp.Or(g.MaxSamples, DefaultGrowthMaxSamples) }
func (g *DiskGrowth) warn() time.Duration { return cmp.Or(g.Warn, DefaultGrowthWarn) }
func (g *DiskGrowth) crit() time.Duration { return cmp.Or(g.Crit, DefaultGrowthCrit) }

// Observe records u for the file system key at now and predicts when its
// free space falls below threshold bytes.
func (g *DiskGrowth) Observe(key string, now time.Time, u Usage, threshold uint64) GrowthPrediction {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hist == nil {
		g.hist = map[string]*growthHistory{}
	}
	if g.File != "" && !g.loaded {
		if g.loadErr = g.load(); g.loadErr != nil {
			clear(g.hist) // nothing half read
		}
	}
	h := g.hist[key]
	if h == nil {
		h = &growthHistory{}
		g.hist[key] = h
	}
	h.add(now, u, g.window(), g.window()/time.Duration(g.maxSamples()))
	return h.predict(g.minSamples(), g.minSpan(), float64(threshold))
}

// LoadError is the error of reading File at the first Observe (nil: read,
// or absent); it is returned once.
func (g *DiskGrowth) LoadError() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	err := g.loadErr
	g.loadErr = nil
	return err
}

// Forget drops the histories of file systems not in keep (a path removed
// from the config, a data directory that went away): the map stays bounded.
func (g *DiskGrowth) Forget(keep map[string]bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.hist {
		if !keep[k] {
			delete(g.hist, k)
		}
	}
}

func (h *growthHistory) add(now time.Time, u Usage, window, spacing time.Duration) {
	free := float64(u.FreeBytes)
	if n := len(h.samples); n > 0 {
		last := h.samples[n-1]
		switch {
		case u.TotalBytes != h.total, // resized or another file system
			now.Before(last.at), // the clock went back: times are not comparable
			free-last.free > growthCleanupRatio*float64(u.TotalBytes): // a cleanup
			h.samples = h.samples[:0]
		}
	}
	h.total = u.TotalBytes
	cut := 0
	for cut < len(h.samples) && now.Sub(h.samples[cut].at) > window {
		cut++
	}
	h.samples = append(h.samples[:0], h.samples[cut:]...)
	// Kept samples are spacing apart; the latest is the newest reading.
	// While the latest is closer than spacing to the one before it, a new
	// reading replaces it: the history never holds more than
	// window/spacing + 2 samples however often the check runs.
	if n := len(h.samples); n >= 2 && h.samples[n-1].at.Sub(h.samples[n-2].at) < spacing {
		h.samples[n-1] = growthSample{at: now, free: free}
		return
	}
	h.samples = append(h.samples, growthSample{at: now, free: free})
}

// predict fits free space against time by least squares. Least squares and
// not a median of pairwise slopes: it is O(n), and the history is already
// cut at cleanups, the outliers that would mislead it.
func (h *growthHistory) predict(minSamples int, minSpan time.Duration, threshold float64) GrowthPrediction {
	n := len(h.samples)
	p := GrowthPrediction{Samples: n}
	if n == 0 {
		return p
	}
	first, last := h.samples[0], h.samples[n-1]
	p.Span = last.at.Sub(first.at)
	if n < minSamples || p.Span < minSpan || n < 2 {
		return p
	}
	var sx, sy float64
	for _, s := range h.samples {
		sx += s.at.Sub(first.at).Seconds()
		sy += s.free
	}
	mx, my := sx/float64(n), sy/float64(n)
	var sxy, sxx float64
	for _, s := range h.samples {
		dx := s.at.Sub(first.at).Seconds() - mx
		sxy += dx * (s.free - my)
		sxx += dx * dx
	}
	if sxx == 0 {
		return p
	}
	p.Fitted = true
	p.Rate = -sxy / sxx
	if p.Rate <= 0 || last.free <= threshold {
		// Flat or shrinking usage predicts nothing; below the threshold
		// already is the disk check's finding.
		return p
	}
	secs := (last.free - threshold) / p.Rate
	if secs > float64(100*365*24*time.Hour/time.Second) {
		return p // a trickle: no crossing worth a number
	}
	p.Filling = true
	p.ETA = time.Duration(secs * float64(time.Second))
	return p
}
