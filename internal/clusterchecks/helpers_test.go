package clusterchecks

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// inv builds a cluster from "name=ip:role,role" specs (ip may be empty).
func inv(layout cluster.Layout, specs ...string) *cluster.Cluster {
	c := &cluster.Cluster{Layout: layout}
	for _, s := range specs {
		name, rest, _ := strings.Cut(s, "=")
		addr, roles, _ := strings.Cut(rest, ":")
		h := &cluster.Host{Name: name, Address: addr}
		if ip, err := netip.ParseAddr(addr); err == nil {
			h.IP = ip
		}
		for _, r := range strings.Split(roles, ",") {
			if r != "" {
				h.Roles = h.Roles.Add(cluster.Role(r))
			}
		}
		c.Hosts = append(c.Hosts, h)
	}
	return c
}

// alive builds alive members with healthy tags.
func alive(names ...string) []Member {
	var out []Member
	for _, n := range names {
		out = append(out, Member{Name: n, Status: StatusAlive, Tags: Tags{MachineIDHash: MachineIDHash("id-" + n)}})
	}
	return out
}

// withStatus returns ms with the named member's status set.
func withStatus(ms []Member, name, status string) []Member {
	for i := range ms {
		if ms[i].Name == name {
			ms[i].Status = status
		}
	}
	return ms
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// expect checks status and that message, remedy and details mention every
// string of want (message), remedy and details respectively.
type expect struct {
	status  checks.Status
	msg     []string
	remedy  []string
	details []string
	// notMsg must not appear in the message.
	notMsg []string
}

func (e expect) check(t *testing.T, r checks.Result) {
	t.Helper()
	if r.Status != e.status {
		t.Errorf("status %s, want %s\nmessage: %s\ndetails: %q\nremedy: %s", r.Status, e.status, r.Message, r.Details, r.Remedy)
	}
	for _, s := range e.msg {
		if !strings.Contains(r.Message, s) {
			t.Errorf("message %q lacks %q", r.Message, s)
		}
	}
	for _, s := range e.notMsg {
		if strings.Contains(r.Message, s) {
			t.Errorf("message %q contains %q", r.Message, s)
		}
	}
	for _, s := range e.remedy {
		if !strings.Contains(r.Remedy, s) {
			t.Errorf("remedy %q lacks %q", r.Remedy, s)
		}
	}
	all := strings.Join(r.Details, "\n")
	for _, s := range e.details {
		if !strings.Contains(all, s) {
			t.Errorf("details lack %q:\n%s", s, all)
		}
	}
	if r.Status != checks.OK && r.Status != checks.Unknown && r.Remedy == "" {
		t.Errorf("%s result without remedy: %s", r.Status, r.Message)
	}
}
