package supervisor

import (
	"strings"
	"testing"
	"time"
)

func TestGuard(t *testing.T) {
	g := Guard{Hosts: []string{"a", "b", "c", "d", "e"}, Groups: map[Group][]string{GroupRaft: {"a", "b", "c"}, GroupEtcd: {"a", "b", "c", "d", "e"}}}
	alive := func(names ...string) []Peer {
		var ps []Peer
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			p := Peer{Name: n}
			for _, m := range names {
				if strings.TrimSuffix(m, "!") == n {
					p.Alive = true
					p.Healthy = !strings.HasSuffix(m, "!") // "x!" = alive but its unit is down
				}
			}
			ps = append(ps, p)
		}
		return ps
	}
	cases := []struct {
		name   string
		action Action
		peers  []Peer
		refuse string // "" = allowed
	}{
		{"no group never guarded", Action{Node: "a", Verb: "restart"}, alive("a"), ""},
		{"start of a failed voter, quorum holds", Action{Node: "a", Verb: "restart", Group: GroupRaft}, alive("a!", "b", "c", "d", "e"), ""},
		{"start of a failed voter below quorum (only way back)", Action{Node: "a", Verb: "restart", Group: GroupRaft}, alive("a!", "b!", "c!", "d", "e"), ""},
		{"restart of a healthy voter with one down", Action{Node: "a", Verb: "rejoin", Group: GroupRaft}, alive("a", "b!", "c", "d", "e"), "would leave 1 of 3"},
		{"restart of a healthy voter, all up", Action{Node: "a", Verb: "rejoin", Group: GroupRaft}, alive("a", "b", "c", "d", "e"), ""},
		{"minority side", Action{Node: "a", Verb: "restart", Group: GroupRaft}, alive("a!", "b"), "minority"},
		{"exactly a majority", Action{Node: "a", Verb: "restart", Group: GroupRaft}, alive("a!", "b", "c"), ""},
		{"remove dead etcd member, rest keeps quorum", Action{Node: "e", Verb: "remove-member", Group: GroupEtcd, Removes: true}, alive("a", "b", "c", "d"), ""},
		{"remove with two more unhealthy", Action{Node: "e", Verb: "remove-member", Group: GroupEtcd, Removes: true}, alive("a", "b", "c!", "d!"), "quorum 3"},
		{"group without voters", Action{Node: "a", Verb: "restart", Group: "other"}, alive("a", "b", "c"), "no voters"},
		// Members the inventory does not have are no votes: two rogues do
		// not make a minority side a majority, nor a voter healthy.
		{"rogues are no majority", Action{Node: "a", Verb: "restart", Group: GroupRaft},
			append(alive("a!", "b"), Peer{Name: "x.attacker", Alive: true, Healthy: true}, Peer{Name: "y.attacker", Alive: true, Healthy: true}), "sees 2 of 5 inventory hosts alive"},
		{"rogues are no voters", Action{Node: "a", Verb: "rejoin", Group: GroupRaft},
			append(alive("a", "b!", "c", "d", "e"), Peer{Name: "b.attacker", Alive: true, Healthy: true}), "would leave 1 of 3"},
		{"a name twice is one vote", Action{Node: "a", Verb: "restart", Group: GroupRaft},
			append(alive("a!", "b"), Peer{Name: "b", Alive: true}, Peer{Name: "b", Alive: true}), "minority"},
	}
	for _, c := range cases {
		err := g.Allow(c.action, c.peers)
		switch {
		case c.refuse == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.refuse != "" && (err == nil || !strings.Contains(err.Error(), c.refuse)):
			t.Errorf("%s: got %v, want a refusal containing %q", c.name, err, c.refuse)
		}
	}
	if err := (Guard{}).Allow(Action{Node: "a", Group: GroupRaft}, alive("a")); err == nil || !strings.Contains(err.Error(), "cluster size is unknown") {
		t.Errorf("no inventory: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 8 * time.Second, Window: time.Minute, MaxAttempts: 6, Rand: func() float64 { return 0.5 }}
	t0 := time.Unix(1000, 0)
	if at, give := b.Next(nil, t0); give || !at.Equal(t0) {
		t.Fatalf("first attempt: %v %v, want now", at, give)
	}
	var h attempts
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	now := t0
	for i, w := range want {
		h = append(h, now)
		at, give := b.Next(h, now)
		if give || at.Sub(now) != w {
			t.Fatalf("after attempt %d: wait %s (give up %v), want %s", i+1, at.Sub(now), give, w)
		}
		now = at
	}
	h = append(h, now)
	if _, give := b.Next(h, now); !give {
		t.Fatal("6 attempts in a window: want give up")
	}
	// The count expires: a minute after the first attempts, they are forgotten.
	if _, give := b.Next(h, h[0].Add(time.Minute+30*time.Second)); give {
		t.Fatal("expired attempts still counted")
	}
	// Jitter stays within its fraction.
	b.Jitter = 0.2
	for _, r := range []float64{0, 0.999} {
		b.Rand = func() float64 { return r }
		d := b.delay(1)
		if d < 800*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("jittered delay %s out of ±20%%", d)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := map[Condition]UnitState{
		Running:       {LoadState: "loaded", ActiveState: "active"},
		Transitioning: {LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart"},
		Stopped:       {LoadState: "loaded", ActiveState: "inactive"},
		Failed:        {LoadState: "loaded", ActiveState: "failed", Result: "signal"},
		StartLimit:    {LoadState: "loaded", ActiveState: "failed", Result: "start-limit-hit"},
		Missing:       {LoadState: "not-found", ActiveState: "inactive"},
		Unknown:       {LoadState: "loaded", ActiveState: "maintenance"},
	}
	for want, st := range cases {
		if got := Classify(st); got != want {
			t.Errorf("%+v: %s, want %s", st, got, want)
		}
	}
	if Classify(UnitState{}) != Unknown || Classify(UnitState{LoadState: "error", ActiveState: "failed"}) != Unknown {
		t.Error("an unreadable or broken unit must be unknown")
	}
}

func TestBusUnescape(t *testing.T) {
	for in, want := range map[string]string{
		"kuma_2dcore_2d00000000_2d0000_2eservice": "kuma-core-00000000-0000.service",
		"nginx_2eservice":                         "nginx.service",
		"odd_zz_2":                                "odd_zz_2",
	} {
		if got := busUnescape(in); got != want {
			t.Errorf("busUnescape(%q) = %q, want %q", in, got, want)
		}
	}
}
