package natsbus

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// closeClients connects n clients to ns, each with subs subscriptions,
// and closes them one by one, each after the server filed the one before
// (it files a closed connection from a goroutine of its own), so that what
// the server keeps is what it chose to keep, not what it got to.
func closeClients(t testing.TB, ns *server.Server, n, subs int) {
	t.Helper()
	for i := range n {
		// Not connectTest: its cleanup would hold every client until the
		// test ends, and the figure measures the server's heap.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		nc, err := Connect(ctx, ClientOptions{URL: ns.ClientURL(), Name: t.Name(), Logger: quietLog,
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
		cid, err := nc.GetClientID()
		if err != nil {
			t.Fatal(err)
		}
		nc.Close()
		deadline := time.Now().Add(10 * time.Second)
		for !filed(t, ns, cid) {
			if time.Now().After(deadline) {
				t.Fatalf("closed connection %d not filed by the server within 10 s", cid)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// closedConns are the closed connections the server remembers.
func closedConns(t testing.TB, ns *server.Server) []*server.ConnInfo {
	t.Helper()
	cz, err := ns.Connz(&server.ConnzOptions{State: server.ConnClosed, Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return cz.Conns
}

// filed: the server remembers closed connection cid.
func filed(t testing.TB, ns *server.Server, cid uint64) bool {
	return slices.ContainsFunc(closedConns(t, ns), func(c *server.ConnInfo) bool { return c.Cid == cid })
}

// TestServerKeepsOneClosedConnection: the embedded server remembers only
// the last closed connection (nats-server keeps 10,000 by default, which
// nothing in the agent reads): 20 closed, each filed before the next.
func TestServerKeepsOneClosedConnection(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "n1"})
	closeClients(t, s.ns, 20, 3)
	if n := len(closedConns(t, s.ns)); n != 1 {
		t.Errorf("the server remembers %d closed connections, want 1 (the last)", n)
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
		closeClients(t, ns, n, 3)
		after := heapAfterGC()
		t.Logf("FIGURE closed connections=%d (3 subscriptions each) max_closed_clients=%d (%s): records kept %d, heap +%.1f KB (%.0f bytes a connection)",
			n, tc.max, tc.name, len(closedConns(t, ns)), float64(after-before)/1024, float64(after-before)/float64(n))
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
