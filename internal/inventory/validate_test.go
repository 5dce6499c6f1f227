package inventory

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// k0sBase is a healthy k0s inventory that rule tests extend; it yields no
// warning or error by itself (TestRules checks that).
const k0sBase = `
all:
  vars: {deploy_to_k8s: true}
kuma_k0s:
  children:
    kuma_lb:
      hosts:
        lb.example.com: {ansible_host: 192.168.1.9}
    kuma_control_plane_master:
      hosts:
        cp1.example.com: {ansible_host: 192.168.1.1}
    kuma_control_plane:
      hosts:
        cp2.example.com: {ansible_host: 192.168.1.2}
        cp3.example.com: {ansible_host: 192.168.1.3}
    kuma_worker:
      hosts:
        w1.example.com: {ansible_host: 192.168.1.11}
        w2.example.com: {ansible_host: 192.168.1.12}
`

func TestRules(t *testing.T) {
	tests := []struct {
		name, data string
		want       []want // exactly the warnings and errors
	}{
		{"k0s base", k0sBase, nil},
		{"raft 5 cores", raft("c1.example.com", "p1.example.com", "p2.example.com", "p3.example.com", "p4.example.com"), nil},
		{"raft 4 cores", raft("c1.example.com", "p1.example.com", "p2.example.com", "p3.example.com"), []want{{"raft-even-cores", ""}}},
		{"raft no seed", "kuma_core_peers:\n  hosts:\n    p1.example.com: {ip: 10.0.0.1}\n    p2.example.com: {ip: 10.0.0.2}\n",
			[]want{{"raft-even-cores", ""}, {"raft-no-seed", "p1.example.com"}}},
		{"raft two seeds", "kuma_core:\n  hosts:\n    c1.example.com:\n    c2.example.com:\nkuma_core_peers:\n  hosts:\n    p1.example.com:\n",
			[]want{{"raft-multiple-seeds", "c2.example.com"}}},
		{"core and peer on one host", "kuma_core:\n  hosts:\n    c1.example.com:\nkuma_core_peers:\n  hosts:\n    c1.example.com:\n    p1.example.com:\n",
			[]want{{"one-core-per-host", "c1.example.com"}}},
		{"peer listed twice", "kuma_core:\n  hosts:\n    c1.example.com:\nkuma_core_peers:\n  hosts:\n    p1.example.com:\n    p1.example.com:\n",
			// p1 is one host, so the Raft group is even as well.
			[]want{{"one-core-per-host", "p1.example.com"}, {"raft-even-cores", ""}}},
		{"raft_node_addr", "kuma_core:\n  hosts:\n    c1.example.com: {raft_node_addr: 'c1.example.com'}\n" +
			"kuma_core_peers:\n  hosts:\n    p1.example.com: {raft_node_addr: 'other.example.com:7209'}\n    p2.example.com: {raft_node_addr: 'p2.example.com:7209'}\n",
			[]want{{"raft-node-addr-invalid", "c1.example.com"}, {"raft-node-addr-name", "p1.example.com"}}},
		{"core name digit", "kuma_core:\n  hosts:\n    1kuma.example.com:\n", []want{{"core-name-leading-digit", "1kuma.example.com"}}},
		{"even controllers", strings.Replace(k0sBase, "        cp3.example.com: {ansible_host: 192.168.1.3}\n",
			"        cp3.example.com: {ansible_host: 192.168.1.3}\n        cp4.example.com: {ansible_host: 192.168.1.4}\n", 1),
			[]want{{"controllers-even", ""}}},
		{"no controller", "all:\n  vars: {deploy_to_k8s: true}\nkuma_lb:\n  hosts: {lb.example.com: {ansible_host: 192.168.1.9}}\n" +
			"kuma_worker:\n  hosts:\n    w1.example.com: {ansible_host: 192.168.1.11}\n    w2.example.com: {ansible_host: 192.168.1.12}\n",
			[]want{{"no-controller", ""}}},
		{"no worker", strings.Replace(k0sBase, "    kuma_worker:", "    other_workers:", 1),
			[]want{{"no-worker", ""}, {"host-without-role", "w1.example.com"}, {"host-without-role", "w2.example.com"}}},
		{"controller also worker", k0sBase + "        cp1.example.com:\n", []want{{"controller-worker-combined", "cp1.example.com"}}},
		{"controller-worker group", k0sBase + "    kuma_control_plane_worker:\n      hosts:\n        cw.example.com: {ansible_host: 192.168.1.5}\n",
			[]want{{"controllers-even", ""}, {"controller-worker-combined", "cw.example.com"}}},
		{"single-node demo", "all:\n  vars: {deploy_to_k8s: true}\nkuma_k0s:\n  children:\n    kuma_lb:\n      hosts: {lb.example.com: {ansible_host: 192.168.1.9}}\n" +
			"    kuma_control_plane_master_worker:\n      hosts: {cw.example.com: {ansible_host: 192.168.1.5}}\n", nil},
		// A group defined in two places is one group, as in Ansible: here
		// kuma_control_plane_master again at the top level.
		{"three masters", k0sBase + "kuma_control_plane_master:\n  hosts:\n    cp2.example.com:\n    cp3.example.com:\n",
			[]want{{"control-plane-master-count", "cp2.example.com"}, {"control-plane-master-count", "cp3.example.com"}}},
		// The same group key twice in one mapping is a duplicate key:
		// Ansible keeps the last, so cp1 (the first) is not in the inventory.
		{"group key twice", strings.Replace(k0sBase, "    kuma_control_plane:\n", "    kuma_control_plane_master:\n", 1),
			[]want{{"duplicate-key", ""}, {"control-plane-master-count", "cp3.example.com"}, {"controllers-even", ""}}},
		{"lb on controller", k0sBase + "    kuma_lb_extra:\n      hosts:\n        x.example.com: {ansible_host: 192.168.1.20}\n" +
			"kuma_lb:\n  hosts:\n    cp1.example.com:\n", []want{{"lb-port-conflict", "cp1.example.com"}, {"host-without-role", "x.example.com"}}},
		// The balancer on a worker: the worker's KUMA ingress takes the
		// ports nginx listens on, though they are pod ports, not listeners.
		{"lb on worker", k0sBase + "    kuma_lb_extra:\n      hosts:\n        x.example.com: {ansible_host: 192.168.1.20}\n" +
			"kuma_lb:\n  hosts:\n    w1.example.com:\n", []want{{"lb-port-conflict", "w1.example.com"}, {"host-without-role", "x.example.com"}}},
		// kuma_core keeps the install-time Core host (KUMA help): info only.
		{"core not on worker", k0sBase + "kuma:\n  children:\n    kuma_core:\n      hosts:\n        cp2.example.com:\n", nil},
		{"no lb", strings.Replace(k0sBase, "    kuma_lb:", "    kuma_lb_typo:", 1),
			[]want{{"no-load-balancer", ""}, {"host-without-role", "lb.example.com"}}},
		// The balancer needs no IP (the KUMA help's HA examples give it none).
		{"lb has a name", strings.Replace(k0sBase, "{ansible_host: 192.168.1.9}", "{ansible_host: lb.example.com}", 1), nil},
		{"lb has no address", strings.Replace(k0sBase, "{ansible_host: 192.168.1.9}", "{kuma_managed_lb: true}", 1), nil},
		{"worker has a name", strings.Replace(k0sBase, "{ansible_host: 192.168.1.11}", "{ansible_host: w1.example.com}", 1),
			[]want{{"k0s-address-not-ip", "w1.example.com"}}},
		{"bad addresses", "kuma_core:\n  hosts:\n    a.example.com: {ip: 127.0.201.300}\n" +
			"kuma_storage:\n  hosts:\n    b.example.com: {ip: 999.1.1.1}\n    c.example.com: {ip: ''}\n    d.example.com: {ansible_host: 10.0.0}\n" +
			"    e.example.com: {ansible_host: 'e host'}\n    f.example.com: {ip: {a: 1}}\n    g.example.com: {ansible_host: g.example.com, ip: '::%eth0'}\n",
			[]want{{"address-invalid", "a.example.com"}, {"address-invalid", "b.example.com"}, {"address-invalid", "c.example.com"},
				{"address-invalid", "d.example.com"}, {"address-invalid", "e.example.com"}, {"address-invalid", "f.example.com"}}},
		// One finding per bad value, not a k0s one on top.
		{"k0s bad ip", strings.Replace(k0sBase, "{ansible_host: 192.168.1.11}", "{ansible_host: 192.168.1.311}", 1),
			[]want{{"address-invalid", "w1.example.com"}}},
		{"placeholders are no duplicates", "kuma_core:\n  hosts:\n    a.example.com: {ip: 0.0.0.0}\n" +
			"kuma_storage:\n  hosts:\n    b.example.com: {ip: 0.0.0.0}\n    c.example.com: {ip: '::'}\n    d.example.com: {ip: '::'}\n", nil},
		{"placeholder written to /etc/hosts", "all:\n  vars: {generate_etc_hosts: true}\nkuma_core:\n  hosts:\n    a.example.com: {ip: 0.0.0.0}\n",
			[]want{{"address-placeholder", "a.example.com"}}},
		{"ansible_host placeholder", "kuma_core:\n  hosts:\n    a.example.com: {ansible_host: 0.0.0.0}\n",
			[]want{{"address-placeholder", "a.example.com"}}},
		{"collector in service range", k0sBase + "kuma_collector:\n  hosts:\n    col.example.com: {ansible_host: 10.100.0.1}\n",
			[]want{{"address-in-service-range", "col.example.com"}}},
		{"duplicate name case", "kuma_core:\n  hosts:\n    kuma.example.com: {ip: 10.0.0.1}\nkuma_storage:\n  hosts:\n    KUMA.example.com: {ip: 10.0.0.1}\n",
			[]want{{"duplicate-name-case", "KUMA.example.com"}}},
		{"duplicate address", "kuma_core:\n  hosts:\n    a.example.com: {ip: 10.0.0.1}\nkuma_storage:\n  hosts:\n    b.example.com: {ip: 10.0.0.1}\n",
			[]want{{"duplicate-address", "b.example.com"}}},
		{"invalid names", "kuma_storage:\n  hosts:\n    a_b.example.com:\n    10.0.0.7:\n    -x.example.com:\n",
			[]want{{"name-invalid", "a_b.example.com"}, {"name-invalid", "10.0.0.7"}, {"name-invalid", "-x.example.com"}}},
		{"listed twice", "kuma_storage:\n  hosts:\n    s1.example.com:\n    s1.example.com:\n", []want{{"host-listed-twice", "s1.example.com"}}},
		{"acura ok", "n1 ansible_ssh_host=10.0.0.1\nn2 ansible_ssh_host=10.0.0.2\nn3 ansible_ssh_host=10.0.0.3\n" + acuraLB, nil},
		{"acura fqdn and name address", "n1.example.com ansible_ssh_host=10.0.0.1\nn2 ansible_ssh_host=n2\nn3\n" + acuraLB,
			[]want{{"name-has-dot", "n1.example.com"}, {"acura-address-not-ip", "n2"}, {"acura-address-not-ip", "n3"}}},
		{"acura two nodes", "n1 ansible_ssh_host=10.0.0.1\nn2 ansible_ssh_host=10.0.0.2\n" + acuraLB, []want{{"controllers-even", ""}}},
		// Acura's file lists only the nodes: the balancer must be declared.
		{"acura no lb", "n1 ansible_ssh_host=10.0.0.1\nn2 ansible_ssh_host=10.0.0.2\nn3 ansible_ssh_host=10.0.0.3\n",
			[]want{{"acura-no-load-balancer", ""}}},
		{"acura internal address not ip", "n1 ansible_ssh_host=203.0.113.1 internal_address=n1.lan\nn2 ansible_ssh_host=10.0.0.2\nn3 ansible_ssh_host=10.0.0.3\n" + acuraLB,
			[]want{{"internal-address-not-ip", "n1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("r.yml", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, f := range Validate(c) {
				if f.Severity >= Warning {
					got = append(got, want{f.Code, f.Host})
				}
				if f.Code == "" || f.Message == "" || f.Severity >= Warning && f.Remedy == "" {
					t.Errorf("incomplete finding %+v", f)
				}
				if h := c.Host(f.Host); h != nil && f.Line != h.Line && !isProblem(c, f) {
					t.Errorf("finding %s line %d, host line %d", f.Code, f.Line, h.Line)
				}
			}
			sortWants(got)
			exp := slices.Clone(tt.want)
			sortWants(exp)
			if !slices.Equal(got, exp) {
				t.Errorf("findings %v, want %v", got, exp)
			}
		})
	}
}

// acuraLB declares an Acura balancer in the ha_env_file itself (allowed,
// though the supplement is where the README says to put it).
const acuraLB = "[lb]\nlb ansible_ssh_host=10.0.0.9\n"

// isProblem: f reports one of c's Problems (located at its own line).
func isProblem(c *cluster.Cluster, f Finding) bool {
	return slices.ContainsFunc(c.Problems, func(p cluster.Problem) bool { return p.Code == f.Code && p.Line == f.Line })
}

// TestInfoFindings: what the KUMA help shows as valid is at most worth an
// info finding.
func TestInfoFindings(t *testing.T) {
	tests := []struct {
		name, data string
		code, host string
		msg        string
	}{
		{"core outside the cluster", k0sBase + "kuma:\n  children:\n    kuma_core:\n      hosts:\n        core.example.com:\n",
			"core-not-on-worker", "core.example.com", "kuma_core keeps the host the Core was installed on"},
		{"placeholder", "kuma_core:\n  hosts:\n    a.example.com: {ip: 0.0.0.0}\n",
			"address-placeholder", "a.example.com", "ip 0.0.0.0 is the template placeholder, unused while generate_etc_hosts is not true"},
		{"demo without balancer", "all:\n  vars: {deploy_to_k8s: true}\nkuma_control_plane_master_worker:\n  hosts: {cw.example.com: {ansible_host: 192.168.1.5}}\n",
			"no-load-balancer", "", "fine for a one-node demo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("i.yml", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, f := range Validate(c) {
				if f.Severity > Info {
					t.Errorf("finding %+v above info", f)
				}
				if f.Code == tt.code && f.Host == tt.host && strings.Contains(f.Message, tt.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("no info %s@%s with %q in %+v", tt.code, tt.host, tt.msg, Validate(c))
			}
		})
	}
}

func raft(core string, peers ...string) string {
	s := "kuma:\n  children:\n    kuma_core:\n      hosts:\n        " + core + ":\n    kuma_core_peers:\n      hosts:\n"
	for _, p := range peers {
		s += "        " + p + ":\n"
	}
	return s + "    kuma_storage:\n      hosts:\n        s.example.com:\n"
}

func TestQuorumMessages(t *testing.T) {
	tests := []struct {
		controllers int
		code, text  string
	}{
		{2, "controllers-even", "2 controllers need 2 for quorum and tolerate 0 failures"},
		{4, "controllers-even", "4 controllers need 3 for quorum and tolerate 1 failures"},
		{5, "etcd-quorum", "5 controllers: quorum 3, 2 may fail"},
		{1, "single-controller", "quorum 1, 0 may fail"},
	}
	for _, tt := range tests {
		data := "all:\n  vars: {deploy_to_k8s: true}\nkuma_control_plane:\n  hosts:\n"
		for i := range tt.controllers {
			data += "    cp" + string(rune('a'+i)) + ".example.com: {ansible_host: 192.168.1." + string(rune('1'+i)) + "}\n"
		}
		data += "kuma_worker:\n  hosts:\n    w1.example.com: {ansible_host: 192.168.2.1}\n    w2.example.com: {ansible_host: 192.168.2.2}\n"
		c, err := Parse("q.yml", []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range Validate(c) {
			if f.Code == tt.code {
				found = true
				if !strings.Contains(f.Message, tt.text) {
					t.Errorf("%d controllers: message %q lacks %q", tt.controllers, f.Message, tt.text)
				}
			}
		}
		if !found {
			t.Errorf("%d controllers: no %s finding", tt.controllers, tt.code)
		}
	}
}

func TestSeverity(t *testing.T) {
	for _, tt := range []struct {
		s    Severity
		name string
	}{{Info, "info"}, {Warning, "warning"}, {Error, "error"}} {
		b, err := json.Marshal(tt.s)
		if err != nil || string(b) != `"`+tt.name+`"` || tt.s.String() != tt.name {
			t.Errorf("%d: json %s (%v), string %s; want %s", tt.s, b, err, tt.s, tt.name)
		}
		var back Severity
		if err := json.Unmarshal(b, &back); err != nil || back != tt.s {
			t.Errorf("round trip of %s = %v, %v", b, back, err)
		}
	}
	var s Severity
	if err := json.Unmarshal([]byte(`"fatal"`), &s); err == nil {
		t.Error("unknown severity accepted")
	}
}

func TestSummaryAndExitCode(t *testing.T) {
	tests := []struct {
		sev   []Severity
		worst Severity
		code  int
	}{
		{nil, Info, 0},
		{[]Severity{Info, Info}, Info, 0},
		{[]Severity{Info, Warning}, Warning, 1},
		{[]Severity{Error, Warning, Info}, Error, 2},
	}
	for _, tt := range tests {
		var f []Finding
		for _, s := range tt.sev {
			f = append(f, Finding{Severity: s, Code: "x"})
		}
		if got := Summary(f); got != tt.worst {
			t.Errorf("Summary(%v) = %v, want %v", tt.sev, got, tt.worst)
		}
		if got := ExitCode(f); got != tt.code {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.sev, got, tt.code)
		}
	}
}

func TestValidateNil(t *testing.T) {
	if f := Validate(nil); f != nil {
		t.Errorf("Validate(nil) = %v", f)
	}
}
