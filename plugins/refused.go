package plugins

import (
	"context"

	"github.com/kuma-agent/kuma-agent/checks"
)

// Refused stands in for a plugin (or a plugin directory) that is unsafe to
// run: it reports why, critically, and never executes anything.
type Refused struct {
	CheckName string
	// Reason completes "refused: ", e.g. "/etc/x is world-writable".
	Reason string
	// Fix is the remedy.
	Fix string
}

func (r Refused) Name() string    { return r.CheckName }
func (Refused) Area() checks.Area { return checks.AreaPlugin }
func (r Refused) Run(context.Context) checks.Result {
	return checks.Critf("refused: "+r.Reason, r.Fix)
}
