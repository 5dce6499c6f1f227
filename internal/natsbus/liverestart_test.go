package natsbus

import (
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// TestLiveSurvivesServerRestart: the live reader's server restarts (the
// agent that embeds it restarted); events published after it is back reach
// the reader.
func TestLiveSurvivesServerRestart(t *testing.T) {
	port := freePort(t)
	dir := t.TempDir()
	o := ServerOptions{Name: "core-1", Users: nodeUsers("core-1"), NoJetStream: true, Port: port, StoreDir: dir}
	s := startTestServer(t, o)
	admin, _ := connectTest(t, s.ClientURL())
	rnc, _ := connectAs(t, s.ClientURL(), testID("core-1", RoleReader))
	live := startLive(t, rnc, Live{Query: Query{Cluster: testCluster}}, nil)
	waitLive(t, live, "before the restart", func(i int) events.Event {
		e := testEvent(t, testCluster, "core-1", events.MemberFailed, i, time.Now())
		corePublish(t, admin, e)
		return e
	})
	s.Shutdown()
	time.Sleep(300 * time.Millisecond)
	s2 := startTestServer(t, o)
	eventually(t, 20*time.Second, "the reader reconnected", func() bool { return rnc.IsConnected() })
	admin2, _ := connectTest(t, s2.ClientURL())
	waitLive(t, live, "after the restart", func(i int) events.Event {
		e := testEvent(t, testCluster, "core-1", events.MemberFailed, 1000+i, time.Now())
		corePublish(t, admin2, e)
		return e
	})
}
