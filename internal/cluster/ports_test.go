package cluster

import (
	"slices"
	"testing"
)

func numbers(ps []Port) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return s
}

func TestListenPortsK0s(t *testing.T) {
	got := numbers(ListenPorts(LayoutK0s, Roles{RoleController}, nil))
	want := []string{"6443/tcp", "8132/tcp", "9443/tcp", "2380/tcp", "10250/tcp"}
	if !slices.Equal(got, want) {
		t.Errorf("controller: %v, want %v", got, want)
	}
	lb := numbers(ListenPorts(LayoutK0s, Roles{RoleLB}, nil))
	for _, p := range []string{"7209/tcp", "7210/tcp", "7220/tcp", "7222/tcp", "7223/tcp", "6443/tcp", "8132/tcp", "9443/tcp"} {
		if !slices.Contains(lb, p) {
			t.Errorf("lb lacks %s: %v", p, lb)
		}
	}
	w := numbers(ListenPorts(LayoutK0s, Roles{RoleWorker}, nil))
	for _, p := range []string{"179/tcp", "9500/tcp", "10250/tcp", "51820/udp", "51821/udp"} {
		if !slices.Contains(w, p) {
			t.Errorf("worker lacks %s: %v", p, w)
		}
	}
	// A Raft layout's Core role gives no Core ports in k0s (Core is a pod on a worker).
	if got := ListenPorts(LayoutK0s, Roles{RoleCore}, nil); len(got) != 0 {
		t.Errorf("k0s core listens itself: %v", numbers(got))
	}
}

func TestListenPortsDedupAndOverride(t *testing.T) {
	got := ListenPorts(LayoutDistributed, Roles{RoleCore, RoleCorePeer}, Overrides{"raft": 7210})
	// raft moved onto 7210, which internal already uses: one entry.
	if n := numbers(got); !slices.Equal(n, []string{"7210/tcp", "7220/tcp", "7222/tcp", "7223/tcp"}) {
		t.Errorf("got %v", n)
	}
}

func TestReachTargets(t *testing.T) {
	c := &Cluster{Layout: LayoutK0s, Hosts: []*Host{
		{Name: "lb.x", Roles: Roles{RoleLB}},
		{Name: "cp1.x", Roles: Roles{RoleController}},
		{Name: "cp2.x", Roles: Roles{RoleController}},
		{Name: "w1.x", Roles: Roles{RoleWorker}},
	}}
	got := map[string][]string{}
	for _, tg := range ReachTargets(c, c.Host("cp1.x"), nil) {
		got[tg.Host.Name] = append(got[tg.Host.Name], tg.Port.String())
	}
	want := map[string][]string{
		"lb.x":  {"6443/tcp", "8132/tcp", "9443/tcp"},
		"cp2.x": {"2380/tcp", "6443/tcp", "9443/tcp", "10250/tcp"},
		"w1.x":  {"10250/tcp"},
	}
	for h, ps := range want {
		if !slices.Equal(got[h], ps) {
			t.Errorf("cp1 -> %s: %v, want %v", h, got[h], ps)
		}
	}
	if _, self := got["cp1.x"]; self {
		t.Error("a host probes itself")
	}
}

func TestOverridesValidate(t *testing.T) {
	if err := (Overrides{"raft": 7210, "kubelet": 1}).Validate(); err != nil {
		t.Error(err)
	}
	if err := (Overrides{"nope": 1}).Validate(); err == nil {
		t.Error("unknown name accepted")
	}
}

func TestEveryRoleHasAnEntry(t *testing.T) {
	for _, r := range AllRoles() {
		if r.Description() == "" {
			t.Errorf("role %s has no description", r)
		}
		if got, err := ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%s) = %v, %v", r, got, err)
		}
	}
	if _, err := ParseRole("king"); err == nil {
		t.Error("unknown role accepted")
	}
	rs := Roles{}.Add(RoleWorker).Add(RoleCore).Add(RoleWorker)
	if rs.String() != "core,k0s-worker" {
		t.Errorf("roles set = %s", rs)
	}
}
