package agent

import (
	"context"
	"net/http"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/statuspage"
)

// statusPageInput is what the status page shows: this node's view of the
// members, the latest cluster evaluation (with its measurements on the
// evaluator; the stored findings elsewhere; never a fresh gathering: a page
// load must not cost the cluster four queries), the last events.
func (a *Agent) statusPageInput(ctx context.Context) statuspage.Input {
	in := statuspage.Input{Cluster: a.cfg.Events.Cluster, Self: a.node.Name, Now: time.Now(), Inventory: a.cluster,
		SkewWarn: a.cfg.Checks.ClockSkew.Warn, SkewCrit: a.cfg.Checks.ClockSkew.Crit, Events: a.recent.list()}
	if a.mesh != nil {
		_, in.Members = a.clusterMembers()
	}
	if rep, measured, ok := a.latestEvaluation(ctx); ok {
		in.Report, in.Measured = &rep, measured
	}
	return in
}

// handleStatusPage adds the status page to the HTTP listener's mux.
func (a *Agent) handleStatusPage(mux *http.ServeMux) {
	mux.Handle("/status", statuspage.Handler{Input: a.statusPageInput, Log: a.log.With("component", "status-page")})
	mux.Handle("GET /{$}", http.RedirectHandler("/status", http.StatusFound))
}
