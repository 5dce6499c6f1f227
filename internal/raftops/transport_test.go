package raftops

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

const testCluster = "kuma"

// opsServer is an embedded server that knows the agents of nodes, with the
// permissions the agent gives them.
func opsServer(t *testing.T, nodes ...string) string {
	t.Helper()
	var users []natsbus.User
	for _, n := range nodes {
		users = append(users, natsbus.NodeUsers(natsbus.NodeKey([]byte("route-secret"), n), natsbus.Scope{Cluster: testCluster, Node: n})...)
	}
	s, err := natsbus.StartServer(natsbus.ServerOptions{Name: "ops-test", Host: "127.0.0.1", Port: -1, StoreDir: t.TempDir(), Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

// agentConn connects as node's agent; permission violations (reported by
// the server asynchronously) arrive on the channel.
func agentConn(t *testing.T, url, node string) (*nats.Conn, chan error) {
	t.Helper()
	id := natsbus.IdentityOf(natsbus.NodeKey([]byte("route-secret"), node), node, natsbus.RoleAgent)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := natsbus.Connect(ctx, natsbus.ClientOptions{URL: url, User: id.User, Password: id.Password, InboxPrefix: id.InboxPrefix, Name: node})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	v := make(chan error, 16)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			select {
			case v <- err:
			default:
			}
		}
	})
	return nc, v
}

// TestOpsOverNATS: a request reaches the addressee with its sender proven
// by the subject and the answer comes back; an agent publishing a request
// as another node, or reading another node's requests, is refused by the
// server, and the addressee never sees the forged request.
func TestOpsOverNATS(t *testing.T) {
	a, b, c := "core-1.example.com", "core-2.example.com", "core-3.example.com"
	url := opsServer(t, a, b, c)
	ncA, _ := agentConn(t, url, a)
	ncB, _ := agentConn(t, url, b)
	ncC, violC := agentConn(t, url, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	seen := make(chan string, 16)
	if err := Serve(ctx, ncA, testCluster, a, func(_ context.Context, from string, data []byte) Reply {
		seen <- from
		r, err := DecodeRequest(data)
		if err != nil {
			return Reply{Reason: err.Error()}
		}
		return Reply{Operation: r.Operation, Step: r.Step, OK: true, Result: "asked by " + from}
	}); err != nil {
		t.Fatal(err)
	}
	if err := ncA.FlushWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	req := Request{Operation: "op-1", Procedure: ProcRestoreCluster, Step: StepStopCore, Node: a, CoreID: "x", Seed: a}
	rep, err := Ask(ctx, ncB, testCluster, b, a, req)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Result != "asked by "+events.Token(b) {
		t.Fatalf("answer %+v, want one naming %s as the sender", rep, b)
	}
	if from := <-seen; from != events.Token(b) {
		t.Fatalf("the target saw sender %q", from)
	}

	// c publishes a request that claims to come from b.
	if err := ncC.Publish(natsbus.OpsSubject(testCluster, natsbus.OpsRequest, a, b), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := <-violC; err == nil {
		t.Fatal("no violation")
	} else {
		t.Logf("forged sender refused: %v", err)
	}
	// c answers as b to a's request answers.
	if err := ncC.Publish(natsbus.OpsSubject(testCluster, natsbus.OpsReply, b, a), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	t.Logf("forged answer refused: %v", <-violC)
	// c reads a's requests.
	sub, err := ncC.SubscribeSync(natsbus.OpsInbox(testCluster, natsbus.OpsRequest, a))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	t.Logf("reading another node's requests refused: %v", <-violC)
	// The forged request never reached a: the next one a sees is c's own.
	if _, err := Ask(ctx, ncC, testCluster, c, a, req); err != nil {
		t.Fatal(err)
	}
	if from := <-seen; from != events.Token(c) {
		t.Fatalf("the target saw %q: a forged request got through", from)
	}
}
