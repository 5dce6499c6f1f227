package natsbus

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// closeClients connects n clients to s, each with subs subscriptions,
// and closes them.
func closeClients(t testing.TB, url string, n, subs int) {
	t.Helper()
	for i := range n {
		// Not connectTest: its cleanup would hold every client until the
		// test ends, and the figure measures the server's heap.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		nc, err := Connect(ctx, ClientOptions{URL: url, Name: t.Name(), Logger: quietLog,
			User: testAdmin.User, Password: testAdmin.Password, InboxPrefix: testAdmin.InboxPrefix})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for j := range subs {
			if _, err := nc.SubscribeSync("kuma.test." + strconv.Itoa(i) + "." + strconv.Itoa(j)); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		nc.Close()
	}
}

// closedRecords is how many closed connections the server remembers.
func closedRecords(t testing.TB, ns *server.Server) int {
	t.Helper()
	cz, err := ns.Connz(&server.ConnzOptions{State: server.ConnClosed, Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return len(cz.Conns)
}

// TestServerKeepsNoClosedConnections: the embedded server does not keep
// a record of every closed connection (nats-server keeps 10,000 by
// default, which nothing in the agent reads).
func TestServerKeepsNoClosedConnections(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "n1"})
	closeClients(t, s.ClientURL(), 20, 3)
	// The server files a closed connection from a goroutine of its own.
	deadline := time.Now().Add(10 * time.Second)
	for s.ns.NumClients() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := closedRecords(t, s.ns); n > 1 {
		t.Errorf("the server remembers %d closed connections, want at most 1", n)
	}
}

// TestFigureClosedConnectionMemory measures the heap a closed connection
// leaves behind in an embedded server as nats-server's default keeps them
// and as the agent's server does (opt-in figure):
//
//	KUMA_FIG_CLOSED_CONNS=2000 go test -count=1 -run TestFigureClosedConnectionMemory -v ./internal/natsbus/
func TestFigureClosedConnectionMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("KUMA_FIG_CLOSED_CONNS"))
	if n <= 0 {
		t.Skip("opt-in figure: KUMA_FIG_CLOSED_CONNS=<connections>")
	}
	for _, tc := range []struct {
		name string
		max  int
	}{{"nats-server default", server.DEFAULT_MAX_CLOSED_CLIENTS}, {"agent", 1}} {
		o := ServerOptions{Name: "n1", Host: "127.0.0.1", Port: -1, StoreDir: t.TempDir(),
			Users: []User{{Identity: testAdmin}}}
		opts, err := o.natsOptions()
		if err != nil {
			t.Fatal(err)
		}
		opts.MaxClosedClients = tc.max
		ns, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("server not ready")
		}
		before := heapAfterGC()
		closeClients(t, ns.ClientURL(), n, 3)
		for ns.NumClients() > 0 {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // the records are filed from goroutines
		after := heapAfterGC()
		t.Logf("FIGURE closed connections=%d (3 subscriptions each) max_closed_clients=%d (%s): records kept %d, heap +%.1f KB (%.0f bytes a connection)",
			n, tc.max, tc.name, closedRecords(t, ns), float64(after-before)/1024, float64(after-before)/float64(n))
		ns.Shutdown()
	}
}

func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
