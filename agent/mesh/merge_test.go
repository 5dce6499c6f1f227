package mesh

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// The names of the finding: a shell command substitution, and a name that
// colours the terminal and forges a row of `kuma-agent members`.
var evilNames = []string{
	"evil'$(touch /tmp/x)'",
	"x\x1b[31mRED\nc9.lab.lan  127.0.201.9  alive  core  ok",
	"under_score.example",
	"-dash.example",
	strings.Repeat("a", 129),
}

// startRogue is a real serf agent holding the cluster's key under any name
// and without the gate (it believes whatever it hears), as a 70-line
// attacker's client would be.
func startRogue(t *testing.T, name string, key []byte) *agent {
	t.Helper()
	a := startAgent(t, Config{NodeName: "rogue", Keys: [][]byte{key}, serfHook: func(c *serf.Config) {
		c.NodeName = name
		c.Merge = nil
	}})
	a.cfg.NodeName = name
	return a
}

// A join that would bring in a member with a bad name is refused whole: the
// agent that joins a rogue gets an error, and no agent lists the name.
func TestJoinBringingBadNameIsRefused(t *testing.T) {
	key := testKey(t)
	agents := startCluster(t, 2, Config{Keys: [][]byte{key}})
	for i, name := range evilNames {
		rogue := startRogue(t, name, key)
		if got := rogue.LocalMember().Name; got != name {
			t.Fatalf("rogue runs as %q", got)
		}
		before := agents[0].Stats().MembersRefused
		n, err := agents[0].Join([]string{rogue.addr()})
		if err == nil || n != 0 || !strings.Contains(err.Error(), "refused") {
			t.Errorf("rogue %d: join = %d, %v; want refused", i, n, err)
		}
		if agents[0].Stats().MembersRefused <= before {
			t.Errorf("rogue %d: refusal not counted", i)
		}
		// The rogue's own join and its gossip are refused too.
		_, _ = rogue.Join([]string{agents[1].addr()})
		eventually(t, "the rogue's alive messages refused", func() bool {
			return agents[1].Stats().MembersRefused > 0
		})
		time.Sleep(300 * time.Millisecond) // a few gossip rounds
		for _, a := range agents {
			if s := memberStatus(a.Mesh, name); s != "" {
				t.Errorf("%s lists rogue %d as %s", a.cfg.NodeName, i, s)
			}
			if len(a.Members()) != 2 {
				t.Errorf("%s lists %d members", a.cfg.NodeName, len(a.Members()))
			}
		}
		_ = rogue.Shutdown()
	}
}

// A bad name relayed by gossip (an agent without the gate believed it and
// passes it on, in alive broadcasts and push/pull) reaches memberlist's
// alive handling, where the gate refuses it member by member: the relay
// stays, the bad name never appears.
func TestGossipedBadNameIsRefused(t *testing.T) {
	key := testKey(t)
	agents := startCluster(t, 2, Config{Keys: [][]byte{key}})
	relay := startRogue(t, "relay.example", key)
	if _, err := relay.Join([]string{agents[0].addr()}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, agents[0], []*agent{relay}, "alive")
	evil := startRogue(t, evilNames[1], key)
	if _, err := evil.Join([]string{relay.addr()}); err != nil {
		t.Fatalf("the relay takes anyone: %v", err)
	}
	eventually(t, "relay sees the evil name", func() bool { return memberStatus(relay.Mesh, evilNames[1]) == "alive" })
	eventually(t, "both agents refuse it", func() bool {
		return agents[0].Stats().MembersRefused > 0 && agents[1].Stats().MembersRefused > 0
	})
	time.Sleep(500 * time.Millisecond)
	for _, a := range agents {
		if s := memberStatus(a.Mesh, evilNames[1]); s != "" {
			t.Errorf("%s lists the evil name as %s", a.cfg.NodeName, s)
		}
		if s := memberStatus(a.Mesh, "relay.example"); s != "alive" {
			t.Errorf("%s lists the relay as %q", a.cfg.NodeName, s)
		}
	}
}

// A name alive at one address cannot be claimed from another.
func TestNameAliveElsewhereIsRefused(t *testing.T) {
	key := testKey(t)
	agents := startCluster(t, 2, Config{Keys: [][]byte{key}})
	want := agents[1].addr()
	// The gate learns who is alive where from the member events, read
	// after serf lists the member: wait until it knows node-1 (under load
	// the event can trail serf's list, and the join below then raced it).
	eventually(t, "node-0's gate knows node-1", func() bool {
		agents[0].gate.mu.Lock()
		defer agents[0].gate.mu.Unlock()
		return agents[0].gate.alive["node-1"] == want
	})
	impostor := startRogue(t, "node-1", key)
	n, err := agents[0].Join([]string{impostor.addr()})
	if err == nil || n != 0 || !strings.Contains(err.Error(), "that name is alive at "+want) {
		t.Fatalf("join of an impostor: %d, %v", n, err)
	}
	for _, m := range agents[0].Members() {
		if m.Name == "node-1" && fmt.Sprintf("%s:%d", m.Addr, m.Port) != want {
			t.Fatalf("node-1 moved to %s:%d", m.Addr, m.Port)
		}
	}
}

func TestRefusalLogIsRateLimited(t *testing.T) {
	var buf syncBuffer
	now := time.Unix(1000, 0)
	l := &refusalLog{log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return now }}
	l.refused(fmt.Errorf("gossip member refused: host name %q", "x\x1b[31m\ny"))
	for range 5 {
		l.refused(fmt.Errorf("again"))
	}
	if got := strings.Count(buf.String(), "\n"); got != 1 {
		t.Fatalf("%d lines logged for 6 refusals within a minute:\n%s", got, buf.String())
	}
	if strings.ContainsAny(strings.TrimSuffix(buf.String(), "\n"), "\x1b\n") {
		t.Fatalf("control characters logged: %q", buf.String())
	}
	l.flush() // the minute is over
	if !strings.Contains(buf.String(), "count=5") {
		t.Fatalf("no count of the others:\n%s", buf.String())
	}
	now = now.Add(refusalLogEvery)
	l.refused(fmt.Errorf("next minute"))
	l.stop()
	if got := strings.Count(buf.String(), "\n"); got != 3 || !strings.Contains(buf.String(), "next minute") {
		t.Fatalf("after the minute:\n%s", buf.String())
	}
}

type syncBuffer = testlab.SyncBuffer
