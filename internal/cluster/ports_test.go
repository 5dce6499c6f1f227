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
	// A dedicated controller runs no kubelet: 10250 is not its listener
	// (issue 14: doctor on a correct controller reported it critical).
	got := numbers(ListenPorts(LayoutK0s, Roles{RoleController}, nil))
	want := []string{"6443/tcp", "8132/tcp", "9443/tcp", "2380/tcp"}
	if !slices.Equal(got, want) {
		t.Errorf("controller: %v, want %v", got, want)
	}
	if cw := numbers(ListenPorts(LayoutK0s, Roles{RoleControllerWorker}, nil)); !slices.Contains(cw, "10250/tcp") {
		t.Errorf("controller with --enable-worker lacks its kubelet: %v", cw)
	}
	lb := numbers(ListenPorts(LayoutK0s, Roles{RoleLB}, nil))
	for _, p := range []string{"7209/tcp", "7210/tcp", "7220/tcp", "7222/tcp", "7223/tcp", "6443/tcp", "8132/tcp", "9443/tcp"} {
		if !slices.Contains(lb, p) {
			t.Errorf("lb lacks %s: %v", p, lb)
		}
	}
	// A worker holds only its kubelet as a host socket: the Core's and
	// Longhorn's ports are pod ports, BGP and WireGuard depend on the CNI.
	if w := numbers(ListenPorts(LayoutK0s, Roles{RoleWorker}, nil)); !slices.Equal(w, []string{"10250/tcp"}) {
		t.Errorf("worker: %v, want only the kubelet", w)
	}
	// A Raft layout's Core role gives no Core ports in k0s (Core is a pod on a worker).
	if got := ListenPorts(LayoutK0s, Roles{RoleCore}, nil); len(got) != 0 {
		t.Errorf("k0s core listens itself: %v", numbers(got))
	}
}

func TestListenPortsAcura(t *testing.T) {
	node := numbers(ListenPorts(LayoutAcura, Roles{RoleAcuraNode}, nil))
	if want := []string{"6443/tcp", "2379/tcp", "2380/tcp", "10250/tcp"}; !slices.Equal(node, want) {
		t.Errorf("node: %v, want %v (NodePorts hold no socket)", node, want)
	}
	lb := numbers(ListenPorts(LayoutAcura, Roles{RoleLB}, nil))
	if want := []string{"80/tcp", "443/tcp", "4443/tcp", "6443/tcp", "12201/udp", "15000/tcp"}; !slices.Equal(lb, want) {
		t.Errorf("lb: %v, want %v", lb, want)
	}
}

func TestReachTargetsAcura(t *testing.T) {
	c := &Cluster{Layout: LayoutAcura, Hosts: []*Host{
		{Name: "n1", Roles: Roles{RoleAcuraNode}},
		{Name: "n2", Roles: Roles{RoleAcuraNode}},
		{Name: "lb", Roles: Roles{RoleLB}},
	}}
	got := map[string][]string{}
	listens := map[string]bool{}
	for _, tg := range ReachTargets(c, c.Host("n1"), nil) {
		got[tg.Host.Name] = append(got[tg.Host.Name], tg.Port.String())
		listens[tg.Host.Name+" "+tg.Port.String()] = tg.Listens
	}
	if want := []string{"6443/tcp", "2379/tcp", "2380/tcp", "10250/tcp", "30080/tcp", "30081/tcp", "30082/tcp"}; !slices.Equal(got["n2"], want) {
		t.Errorf("n1 -> n2: %v, want %v", got["n2"], want)
	}
	if !slices.Equal(got["lb"], []string{"6443/tcp"}) {
		t.Errorf("n1 -> lb: %v", got["lb"])
	}
	// A NodePort needs no socket on the node; the kubelet does.
	if listens["n2 30080/tcp"] || !listens["n2 10250/tcp"] || !listens["lb 6443/tcp"] {
		t.Errorf("listens: %v", listens)
	}
	up := map[string][]string{}
	for _, tg := range ReachTargets(c, c.Host("lb"), nil) {
		up[tg.Host.Name] = append(up[tg.Host.Name], tg.Port.String())
	}
	for _, n := range []string{"n1", "n2"} {
		if want := []string{"80/tcp", "443/tcp", "4443/tcp", "6443/tcp", "15000/tcp", "12201/udp"}; !slices.Equal(up[n], want) {
			t.Errorf("lb -> %s (one per upstream): %v, want %v", n, up[n], want)
		}
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
