package cluster

import (
	"net/netip"
	"strings"
	"testing"
)

func TestVouch(t *testing.T) {
	c := &Cluster{Hosts: []*Host{
		{Name: "core-1.x", Address: "10.0.0.1", IP: netip.MustParseAddr("10.0.0.1")},
		{Name: "core-2.x", Address: "core-2.x"}, // no IP in the inventory: the name is all there is
	}}
	tests := []struct {
		name, addr string
		want       string // "" = vouched
	}{
		{"core-1.x", "10.0.0.1", ""},
		{"core-1.x", "::ffff:10.0.0.1", ""},
		{"core-1.x", "10.0.0.9", "member core-1.x advertises 10.0.0.9, the inventory has 10.0.0.1 for it"},
		{"core-1.x", "", "advertises , the inventory has 10.0.0.1"},
		{"CORE-1.x", "10.0.0.1", "member CORE-1.x is not in the inventory"},
		{"core-2.x", "192.0.2.7", ""},
		{"rogue-leader.attacker.example", "10.0.0.1", "member rogue-leader.attacker.example is not in the inventory"},
		{"x\x1b[31m\ny", "10.0.0.1", `member x\x1b[31m\ny is not in the inventory`},
	}
	for _, tt := range tests {
		h, err := c.Vouch(tt.name, tt.addr)
		switch {
		case tt.want == "" && (err != nil || h == nil || h.Name != tt.name):
			t.Errorf("Vouch(%q, %q) = %v, %v; want the host", tt.name, tt.addr, h, err)
		case tt.want != "" && (err == nil || h != nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Vouch(%q, %q) = %v, %v; want refused with %q", tt.name, tt.addr, h, err, tt.want)
		}
	}
	var none *Cluster
	if h, err := none.Vouch("core-1.x", "10.0.0.1"); h != nil || err == nil {
		t.Errorf("no inventory vouched: %v %v", h, err)
	}
}

func TestCheckHostName(t *testing.T) {
	good := []string{"a", "core-1", "kuma-core-1.demo.local", "c9.lab.lan", "1.2", strings.Repeat("a", 63) + ".b", "A-b.C"}
	for _, n := range good {
		if err := CheckHostName(n); err != nil {
			t.Errorf("CheckHostName(%q): %v", n, err)
		}
	}
	bad := map[string]string{
		"":                      "empty",
		"evil'$(touch /tmp/x)'": `character '\''`,
		"x\x1b[31mRED\nc9.lab.lan  127.0.201.9  alive  core  ok": `character '\x1b'`,
		"$(id)":                          "character '$'",
		"a..b":                           "empty label",
		".a":                             "empty label",
		"a.":                             "empty label",
		"-a.b":                           "starts or ends with '-'",
		"a-.b":                           "starts or ends with '-'",
		"a_b":                            "character '_'",
		"a b":                            "character ' '",
		strings.Repeat("a", 64) + ".b":   "more than 63",
		strings.Repeat("a.", 64) + "bcd": "more than 128",
		"\xff":                           `character '\xff'`,
	}
	for n, want := range bad {
		err := CheckHostName(n)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckHostName(%q) = %v, want an error with %q", n, err, want)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\x1b\n") {
			t.Errorf("error %q carries control characters", err)
		}
	}
}
