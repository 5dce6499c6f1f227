package agent

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/exepages"
)

// exePagesFirst is when the first release runs: by then the start-up
// (every package's init, the configuration, the mesh join, NATS, the
// first pass of every check) is over, and what it alone touched is what
// the release gives back.
const exePagesFirst = time.Minute

// exePages gives back the resident pages of the executable's clean
// read-only regions a minute after start and then every
// agent.release_exe_pages_every (internal/exepages says why it is safe
// and what it frees). A failure is logged once at warning level and the
// next period tries again; it never stops the agent.
type exePages struct {
	first, every time.Duration
	release      func() (exepages.Result, error)
	log          *slog.Logger
	// releasedBytes is the total given back since start, for /metrics.
	releasedBytes atomic.Uint64
}

func (a *Agent) newExePages() *exePages {
	p := &exePages{first: exePagesFirst, every: a.cfg.Agent.ReleaseExePagesEvery, release: exepages.Self().Release,
		log: a.log.With("component", "exe-pages")}
	if a.opts.exePages != nil {
		p.release = a.opts.exePages
	}
	if a.opts.exePagesFirst > 0 {
		p.first = a.opts.exePagesFirst
	}
	return p
}

func (p *exePages) run(ctx context.Context) {
	t := time.NewTimer(p.first)
	defer t.Stop()
	for announced, warned := false, false; ; {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := p.release()
		p.releasedBytes.Add(res.ReleasedKiB << 10)
		switch {
		case err != nil && !warned:
			warned = true
			p.log.Warn("could not give back the executable's resident pages (memory only: the agent runs on; tried again every period)",
				"released_kib", res.ReleasedKiB, "err", err)
		case err != nil:
			p.log.Debug("could not give back the executable's resident pages", "released_kib", res.ReleasedKiB, "err", err)
		case !announced:
			announced = true
			p.log.Info("gave back the executable's resident pages touched at start-up (the page cache keeps them; those in use come back on their next touch)",
				"released_kib", res.ReleasedKiB, "regions", res.Regions, "kept", res.Kept, "every", p.every)
		default:
			p.log.Debug("gave back the executable's resident pages", "released_kib", res.ReleasedKiB, "regions", res.Regions)
		}
		t.Reset(p.every)
	}
}
