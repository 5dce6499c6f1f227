package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

// BenchmarkDrain is the agent's publish path on one node: events recorded
// by eventBus.emit into the on-disk outbox (opened as the agent opens it),
// then eventBus.drain, as the drain loop runs it, on the connection and
// publisher eventBus.open makes, into a local embedded JetStream. Every
// event leaves the outbox only after its acknowledgement (and those before
// it) arrived. One op drains 10,000 events; events/s is the figure.
// window=1 is one acknowledgement awaited at a time, like the old
// synchronous drain; window=256 is what the agent runs.
//
//	go test -run '^$' -bench Drain -benchtime 5x ./agent/
func BenchmarkDrain(b *testing.B) {
	for _, window := range []int{1, 16, 64, publishWindow, 1024} {
		b.Run("window="+strconv.Itoa(window), func(b *testing.B) { benchDrain(b, window) })
	}
}

func benchDrain(b *testing.B, window int) {
	const perOp = 10_000
	srv, err := natsbus.StartServer(natsbus.ServerOptions{Name: "bench", Port: -1, StoreDir: b.TempDir(),
		Users: []natsbus.User{{Identity: externalUser}}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	cfg := config.Default()
	cfg.StateDir = b.TempDir()
	useExternal(b, &cfg, srv.ClientURL())
	bus, err := newEventBus(cfg, "core-1.example.com", nil, &cluster.Cluster{}, slog.New(slog.DiscardHandler), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer bus.close()
	bus.window = window
	ctx := context.Background()
	nc, pub, ok := bus.open(ctx, srv.ClientURL(), 1)
	if !ok {
		b.Fatal("open failed")
	}
	defer nc.Close()
	total := 0
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for j := range perOp {
			bus.emit("", events.CheckStatusChanged, "bench", events.SeverityWarning,
				events.CheckData{Check: "bench", From: "ok", To: "warning", Message: fmt.Sprintf("op %d event %d", i, j)})
		}
		if n := bus.ob.Len(); n != perOp {
			b.Fatalf("outbox holds %d events, want %d", n, perOp)
		}
		b.StartTimer()
		n, err := bus.drain(ctx, pub)
		if err != nil || n != perOp {
			b.Fatalf("drain = %d, %v; want %d", n, err, perOp)
		}
		total += n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}
