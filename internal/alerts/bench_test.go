package alerts

import (
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// BenchmarkDispatch measures routing one event through the example rules
// into the action queues (no delivery): the per-event cost on the source's
// goroutine.
func BenchmarkDispatch(b *testing.B) {
	cfg, err := LoadConfig(exampleConfigPath())
	if err != nil {
		b.Fatal(err)
	}
	a := New(cfg, discardLog())
	a.init()
	a.queues = map[string]*queue{}
	for name := range cfg.Actions {
		a.queues[name] = newQueue(cfg.QueueSize)
	}
	ev := mustEvent(b, "kuma-core-1.example.com", events.MemberFailed, events.SeverityCritical)
	b.ReportAllocs()
	for b.Loop() {
		_ = a.dispatch(ev, nil)
	}
}
