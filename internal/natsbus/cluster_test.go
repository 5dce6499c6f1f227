package natsbus

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/nats-io/nats.go/jetstream"
)

const routeUser, routePassword = "route", "route-secret"

// startCluster starts n servers on 127.0.0.1, each given routes to all (as
// agents are, from the inventory), and waits until each sees the others.
func startCluster(t *testing.T, n int) []*Server {
	t.Helper()
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range ports {
		ports[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i])
	}
	var servers []*Server
	for i := range n {
		servers = append(servers, startTestServer(t, ServerOptions{
			Name: fmt.Sprintf("node-%d", i+1), Logger: serverTestLog(), ClusterName: "kuma-test", ClusterPort: ports[i],
			Routes: routes, RouteUser: routeUser, RoutePassword: routePassword,
		}))
	}
	eventually(t, 20*time.Second, "a full route mesh", func() bool {
		for _, s := range servers {
			if s.NumPeers() != n-1 {
				return false
			}
		}
		return true
	})
	return servers
}

func TestClusterSurvivesLossOfOneServer(t *testing.T) {
	servers := startCluster(t, 3)

	// A server routing with the wrong password is refused.
	var badLog logBuffer
	bad := startTestServer(t, ServerOptions{
		Name: "intruder", ClusterName: "kuma-test", ClusterPort: -1,
		Routes:    []string{"nats-route://" + servers[0].ClusterAddr()},
		RouteUser: routeUser, RoutePassword: "wrong", Logger: badLog.Logger(),
	})
	eventually(t, 20*time.Second, "the intruder's route to be refused", func() bool {
		return badLog.Contains("Authorization Violation")
	})
	if bad.NumRoutes() != 0 || servers[0].NumPeers() != 2 {
		t.Fatalf("intruder routes=%d, node-1 peers=%d; want 0 and 2", bad.NumRoutes(), servers[0].NumPeers())
	}
	bad.Shutdown()

	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.ClientURL()
	}
	_, js := connectTest(t, strings.Join(urls, ","))
	ctx := ctxT(t, 120*time.Second)
	var st jetstream.Stream
	// The JetStream meta leader is elected after the routes come up.
	eventually(t, 30*time.Second, "an R3 stream", func() bool {
		var err error
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err = EnsureStream(ectx, js, StreamOptions{Replicas: ReplicasFor(len(servers))})
		if err != nil {
			t.Logf("EnsureStream: %v", err)
		}
		return err == nil
	})
	var sent []string
	publish := func(n int) {
		t.Helper()
		for i := range n {
			e := testEvent(t, "prod", "core-1", events.CheckStatusChanged, i, time.Now())
			eventually(t, 30*time.Second, "a publish acknowledged", func() bool {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				return Publish(pctx, js, e) == nil
			})
			sent = append(sent, e.ID)
		}
	}
	publish(50)

	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream is not R3: config replicas %d, cluster %+v", info.Config.Replicas, info.Cluster)
	}
	// Lose the stream leader: the worst case, forcing an election.
	leader := -1
	for i := range servers {
		if servers[i].ns.Name() == info.Cluster.Leader {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatalf("stream leader %q is none of the servers", info.Cluster.Leader)
	}
	servers[leader].Shutdown()

	publish(50)
	got := readAll(t, js, DefaultStreamName, Query{})
	if len(got) != len(sent) {
		t.Fatalf("read %d events after losing %s, want %d", len(got), info.Cluster.Leader, len(sent))
	}
	for i := range got {
		if got[i].ID != sent[i] {
			t.Fatalf("event %d: %s, want %s", i, got[i].ID, sent[i])
		}
	}
}
