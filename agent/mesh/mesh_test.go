package mesh

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/kuma-agent/kuma-agent/internal/component"
)

func TestJoinFormsMesh(t *testing.T) {
	agents := startCluster(t, 3, Config{Keys: [][]byte{testKey(t)}})
	for _, a := range agents {
		if got := len(a.Members()); got != 3 {
			t.Errorf("%s sees %d members, want 3", a.cfg.NodeName, got)
		}
		if !a.Stats().Encrypted {
			t.Errorf("%s: gossip not encrypted", a.cfg.NodeName)
		}
	}
	// The seed learned of both joiners through its sink.
	for _, name := range []string{"node-1", "node-2"} {
		eventually(t, "join event for "+name, func() bool {
			_, ok := agents[0].sink.find("join", name)
			return ok
		})
	}
}

func TestJoinWithWrongKeyFails(t *testing.T) {
	agents := startCluster(t, 2, Config{Keys: [][]byte{testKey(t)}})
	stranger := startAgent(t, Config{NodeName: "stranger", Keys: [][]byte{testKey(t)}})
	n, err := stranger.Join([]string{agents[0].addr()})
	if err == nil || n != 0 {
		t.Fatalf("join with a different key: n=%d err=%v, want 0 and an error", n, err)
	}
	if got := len(stranger.Members()); got != 1 {
		t.Errorf("stranger sees %d members, want 1", got)
	}
	if s := memberStatus(agents[0].Mesh, "stranger"); s != "" {
		t.Errorf("cluster lists stranger as %q", s)
	}
}

func TestDevModeWithoutKeysIsUnencrypted(t *testing.T) {
	agents := startCluster(t, 2, Config{Dev: true})
	if agents[0].Stats().Encrypted {
		t.Error("Dev mode without keys reports encryption on")
	}
	if _, err := agents[0].ListKeys(); err == nil {
		t.Error("ListKeys without encryption: want error")
	}
}

func TestShutdownIsFailureAndSnapshotRejoins(t *testing.T) {
	dir := t.TempDir()
	// Peers must not reconnect to the restarted agent on their own, or the
	// test could not tell that the snapshot did the rejoin.
	noReconnect := func(c *serf.Config) { c.ReconnectInterval = time.Hour }
	agents := startCluster(t, 3, Config{
		Keys: [][]byte{testKey(t)}, SnapshotPath: filepath.Join(dir, "snap"), serfHook: noReconnect,
	})
	victim := agents[2]
	if err := victim.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, a := range agents[:2] {
		waitStatus(t, a, []*agent{victim}, "failed")
	}
	// Both observers' failed events carry the incarnation of the same
	// change (the agent's member event ids hash it).
	var incs []uint32
	for _, a := range agents[:2] {
		var ev MemberEvent
		eventually(t, "failed event on "+a.cfg.NodeName, func() bool {
			var ok bool
			ev, ok = a.sink.find("failed", victim.cfg.NodeName)
			return ok
		})
		for _, m := range ev.Members {
			if m.Name == victim.cfg.NodeName {
				incs = append(incs, m.Incarnation)
			}
		}
	}
	if len(incs) != 2 || incs[0] == 0 || incs[0] != incs[1] {
		t.Errorf("the two observers' failed events carry incarnations %v, want one and the same, not 0", incs)
	}

	cfg := victim.cfg
	cfg.EventSink = nil
	restarted := startAgent(t, cfg) // no Join: the snapshot must do it
	for _, a := range agents[:2] {
		waitStatus(t, a, []*agent{restarted}, "alive")
	}
	waitStatus(t, restarted, agents[:2], "alive")
}

func TestLeaveIsLeft(t *testing.T) {
	agents := startCluster(t, 3, Config{Keys: [][]byte{testKey(t)}})
	leaver := agents[2]
	if err := leaver.Leave(); err != nil {
		t.Fatal(err)
	}
	for _, a := range agents[:2] {
		waitStatus(t, a, []*agent{leaver}, "left")
	}
	if _, ok := agents[0].sink.find("leave", leaver.cfg.NodeName); !ok {
		t.Error("no leave event on node-0")
	}
	if _, ok := agents[0].sink.find("failed", leaver.cfg.NodeName); ok {
		t.Error("a graceful leave was reported as a failure")
	}
}

func TestTagsPropagate(t *testing.T) {
	agents := startCluster(t, 2, Config{Keys: [][]byte{testKey(t)}, Tags: map[string]string{"role": "core"}})
	want := map[string]string{"role": "core", "kuma": "3.4"}
	if err := agents[1].SetTags(want); err != nil {
		t.Fatal(err)
	}
	eventually(t, "update event with new tags", func() bool {
		e, ok := agents[0].sink.find("update", "node-1")
		return ok && maps.Equal(e.Members[0].Tags, want)
	})
	if got := agents[1].LocalMember().Tags; !maps.Equal(got, want) {
		t.Errorf("local tags = %v, want %v", got, want)
	}
}

func TestSetTagsTooLarge(t *testing.T) {
	a := startAgent(t, Config{NodeName: "solo", Keys: [][]byte{testKey(t)}})
	big := map[string]string{"blob": strings.Repeat("x", MaxTagsSize)}
	err := a.SetTags(big)
	if !errors.Is(err, ErrTagsTooLarge) {
		t.Fatalf("SetTags(%d-byte value) = %v, want ErrTagsTooLarge", MaxTagsSize, err)
	}
	if _, ok := a.LocalMember().Tags["blob"]; ok {
		t.Error("oversized tags were applied")
	}
	_, err = New(Config{NodeName: "x", BindAddr: loopbackAddr(), Dev: true, Tags: big, Logger: testLogger()})
	if !errors.Is(err, ErrTagsTooLarge) || !strings.Contains(err.Error(), "Tags") {
		t.Errorf("New with oversized tags = %v, want ErrTagsTooLarge naming Tags", err)
	}
}

// TestTagsSizeMatchesSerf checks our pre-check against serf's own limit at
// the boundary, so the two can never disagree.
func TestTagsSizeMatchesSerf(t *testing.T) {
	a := startAgent(t, Config{NodeName: "solo", Dev: true})
	for _, valueLen := range []int{400, 490, 495, 500, 505, 506, 507, 508, 509, 510, 511, 520} {
		tags := map[string]string{"k": strings.Repeat("v", valueLen)}
		ours := checkTags(tags)
		theirs := a.serf.SetTags(tags)
		if (ours == nil) != (theirs == nil) {
			t.Errorf("value of %d bytes: our check %v, serf %v", valueLen, ours, theirs)
		}
	}
}

func TestRetryJoinWaitsForSeed(t *testing.T) {
	key := testKey(t)
	// Reserve the seed's address by starting and stopping it.
	probe := startAgent(t, Config{NodeName: "seed", Keys: [][]byte{key}})
	seedCfg, seedAddr := probe.cfg, probe.addr()
	if err := probe.Shutdown(); err != nil {
		t.Fatal(err)
	}

	joiner := startAgent(t, Config{NodeName: "joiner", Keys: [][]byte{key}})
	joiner.joinBackoff.Min = 50 * time.Millisecond // keep the test fast
	joined := make(chan int, 1)
	go joiner.RetryJoin(t.Context(), []string{seedAddr}, func(n int) { joined <- n })

	time.Sleep(200 * time.Millisecond) // let at least one attempt fail
	startAgent(t, seedCfg)
	select {
	case n := <-joined:
		if n != 1 {
			t.Errorf("onJoined(%d), want 1", n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("RetryJoin never joined")
	}
}

func TestRetryJoinStopsOnCancel(t *testing.T) {
	a := startAgent(t, Config{NodeName: "lonely", Dev: true})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	called := false
	go func() {
		defer close(done)
		// Port 1 on a loopback address nobody listens on: always refused.
		a.RetryJoin(ctx, []string{"127.0.0.1:1"}, func(int) { called = true })
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("RetryJoin ignored cancellation")
	}
	if called {
		t.Error("onJoined called although nothing was joined")
	}
}

// blockingSink never returns until released, like a stuck consumer.
type blockingSink struct{ release chan struct{} }

func (b blockingSink) HandleMemberEvent(MemberEvent) { <-b.release }

func TestSlowSinkDropsInsteadOfBlocking(t *testing.T) {
	key := testKey(t)
	sink := blockingSink{release: make(chan struct{})}
	slow := startAgent(t, Config{NodeName: "slow", Keys: [][]byte{key}, EventSink: sink, sinkQueueLen: 1})
	t.Cleanup(func() { close(sink.release) }) // runs before Shutdown
	peer := startAgent(t, Config{NodeName: "peer", Keys: [][]byte{key}})
	if _, err := peer.Join([]string{slow.addr()}); err != nil {
		t.Fatal(err)
	}
	// Each tag change is one update event on "slow"; its sink takes none.
	for i := range 5 {
		if err := peer.SetTags(map[string]string{"i": strings.Repeat("x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "drops to be counted", func() bool { return slow.Stats().EventsDropped > 0 })
	// Gossip kept working: the slow agent still applied the last update.
	eventually(t, "last tag update applied", func() bool {
		for _, m := range slow.Members() {
			if m.Name == "peer" && m.Tags["i"] == "xxxx" {
				return true
			}
		}
		return false
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no name", Config{Dev: true}, "NodeName"},
		{"no keys", Config{NodeName: "a"}, "Keys"},
		{"short key", Config{NodeName: "a", Keys: [][]byte{make([]byte, 10)}}, "Keys[0]"},
		{"bad second key", Config{NodeName: "a", Keys: [][]byte{make([]byte, 16), make([]byte, 33)}}, "Keys[1]"},
		{"port", Config{NodeName: "a", Dev: true, BindPort: 70000}, "BindPort"},
		{"advertise port", Config{NodeName: "a", Dev: true, AdvertisePort: -1}, "AdvertisePort"},
		{"profile", Config{NodeName: "a", Dev: true, Profile: Profile(42)}, "Profile"},
		{"hosts", Config{NodeName: "a", Dev: true, Hosts: -1}, "Hosts"},
		{"keyring file missing", Config{NodeName: "a", KeyringFile: filepath.Join(t.TempDir(), "none.json")}, "Keys"},
		{"name chars", Config{NodeName: "a b", Dev: true}, "NodeName"},
		{"name label", Config{NodeName: "-a.b", Dev: true}, "NodeName"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.BindAddr = loopbackAddr()
			tc.cfg.Logger = testLogger()
			m, err := New(tc.cfg)
			if err == nil {
				_ = m.Shutdown()
				t.Fatal("New accepted the config")
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %q", err, tc.field)
			}
		})
	}
}

func TestShutdownTwiceAndAfterLeave(t *testing.T) {
	a := startAgent(t, Config{NodeName: "solo", Dev: true})
	if err := a.Leave(); err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(); err != nil {
		t.Errorf("Shutdown after Leave: %v", err)
	}
	if _, err := a.Join([]string{"127.0.0.1:1"}); err == nil {
		t.Error("Join after Leave succeeded")
	}
}

// TestEventReaderBeats: the loop reading serf's events beats its heartbeat
// while idle; blocked (here on the handlers lock, while a query arrives)
// it stops; unblocked it beats again; shut down on purpose it is retired.
func TestEventReaderBeats(t *testing.T) {
	hs := component.NewHeartbeats(10 * time.Millisecond)
	hb := hs.Add("mesh")
	a := startAgent(t, Config{NodeName: "beating", Dev: true, Heartbeat: hb})
	if err := a.HandleQuery("q", func([]byte) ([]byte, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	const bound = 300 * time.Millisecond
	time.Sleep(2 * bound)
	if s := hs.Stalled(bound); len(s) != 0 {
		t.Fatalf("an idle reader stalled: %v", s)
	}

	a.handlersMu.Lock()
	go a.Query(context.Background(), "q", nil, nil, time.Second) // this node answers its own queries
	eventually(t, "the blocked reader stalls", func() bool { return len(hs.Stalled(bound)) == 1 })
	a.handlersMu.Unlock()
	eventually(t, "the reader beats again", func() bool { return len(hs.Stalled(bound)) == 0 })

	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * bound)
	if s := hs.Stalled(bound); len(s) != 0 {
		t.Errorf("a mesh shut down on purpose counts as stalled: %v", s)
	}
}
