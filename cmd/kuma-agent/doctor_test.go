package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
	"github.com/kuma-agent/kuma-agent/internal/testlab/ntpserver"
	"github.com/kuma-agent/kuma-agent/internal/testlab/sandbox"
)

// node is one sandboxed host of the single-host fixture, with real
// listeners, a real NTP server and an agent.yaml pointing at its files.
type node struct {
	cfgPath string
	ntp     *ntpserver.Server
	svc     *sandbox.Services
	c       *cluster.Cluster
}

func newNode(t *testing.T, f sandbox.Fault) *node {
	t.Helper()
	inv := filepath.Join(inventoryFixtures, "single.inventory.yml")
	c, err := inventory.Load(inv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	self := c.Hosts[0]
	cfg, err := sandbox.WriteNode(dir, inv, c, self, f)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ntpserver.Listen("127.0.0.1:0", 2*time.Millisecond, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	svc, err := sandbox.StartServices(c, func(*cluster.Host) bool { return f.ServicesDown })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	cfg.Checks.NTP.Servers = []string{srv.Addr()}
	cfg.Checks.Disk.MinFree = 1
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{cfgPath: filepath.Join(dir, "agent.yaml"), ntp: srv, svc: svc, c: c}
	if err := os.WriteFile(n.cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) doctor(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), append([]string{"doctor", "--config", n.cfgPath}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// doctorJSON is the documented JSON shape, decoded strictly.
type doctorJSON struct {
	Host      string   `json:"host"`
	Roles     []string `json:"roles"`
	Layout    string   `json:"layout"`
	Inventory string   `json:"inventory"`
	Time      string   `json:"time"`
	Findings  []struct {
		Check      string   `json:"check"`
		Area       string   `json:"area"`
		Status     string   `json:"status"`
		Message    string   `json:"message"`
		Details    []string `json:"details"`
		Remedy     string   `json:"remedy"`
		Host       string   `json:"host"`
		DurationMS float64  `json:"duration_ms"`
	} `json:"findings"`
	Summary struct {
		Status     string  `json:"status"`
		OK         int     `json:"ok"`
		Warn       int     `json:"warn"`
		Crit       int     `json:"crit"`
		Unknown    int     `json:"unknown"`
		Total      int     `json:"total"`
		DurationMS float64 `json:"duration_ms"`
	} `json:"summary"`
}

func decodeDoctor(t *testing.T, out string) doctorJSON {
	t.Helper()
	var d doctorJSON
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("doctor json: %v\n%s", err, out)
	}
	return d
}

func (d doctorJSON) status(check string) string {
	for _, f := range d.Findings {
		if f.Check == check {
			return f.Status
		}
	}
	return "absent"
}

func TestDoctorHealthyNodeExitsZero(t *testing.T) {
	n := newNode(t, sandbox.Fault{})
	code, out, errOut := n.doctor(t, "--format", "json")
	d := decodeDoctor(t, out)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q, report %s", code, errOut, out)
	}
	if d.Host != "kuma.example.com" || d.Layout != "single" || len(d.Roles) != 4 {
		t.Errorf("header: %+v", d)
	}
	want := []string{"inventory", "ntp", "machine-id", "hostname", "hosts", "disk", "ports"}
	for _, c := range want {
		if s := d.status(c); s != "ok" {
			t.Errorf("%s: %s", c, s)
		}
	}
	if d.status("lb") != "absent" {
		t.Error("lb check ran on a node that is no load balancer")
	}
	s := d.Summary
	if s.Status != "ok" || s.OK != len(d.Findings) || s.Total != len(d.Findings) || s.Crit+s.Warn+s.Unknown != 0 {
		t.Errorf("summary %+v for %d findings", s, len(d.Findings))
	}
	for _, f := range d.Findings {
		if f.Host != "kuma.example.com" || f.Message == "" || f.Area == "" {
			t.Errorf("finding %+v lacks host/message/area", f)
		}
	}
}

func TestDoctorExitCodes(t *testing.T) {
	t.Run("crit: services down", func(t *testing.T) {
		n := newNode(t, sandbox.Fault{ServicesDown: true})
		code, out, _ := n.doctor(t, "--format", "json")
		d := decodeDoctor(t, out)
		if code != 2 || d.status("ports") != "crit" || d.Summary.Status != "crit" {
			t.Fatalf("exit %d, ports %s", code, d.status("ports"))
		}
	})
	t.Run("warn: clock skew", func(t *testing.T) {
		n := newNode(t, sandbox.Fault{})
		n.ntp.SetSkew(300 * time.Millisecond)
		code, out, _ := n.doctor(t, "--format", "json")
		d := decodeDoctor(t, out)
		if code != 1 || d.status("ntp") != "warn" {
			t.Fatalf("exit %d, ntp %s", code, d.status("ntp"))
		}
	})
	t.Run("nagios: unknown is 3", func(t *testing.T) {
		n := newNode(t, sandbox.Fault{})
		n.ntp.Close() // nothing answers: unknown, never ok
		code, out, _ := n.doctor(t, "--format", "nagios", "--only", "ntp")
		if code != 3 || !strings.HasPrefix(out, "KUMA-AGENT UNKNOWN - kuma.example.com: ntp: ") || !strings.Contains(out, "| ok=0 warn=0 crit=0 unknown=1") {
			t.Fatalf("exit %d: %q", code, out)
		}
	})
}

func TestDoctorTableNamesTheFix(t *testing.T) {
	n := newNode(t, sandbox.Fault{HostsWrong: []string{"kuma.example.com"}, Hostname: "kuma"})
	code, out, _ := n.doctor(t)
	if code != 2 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"NAMES\n", "CRIT     hosts", "fix: ", "127.0.50.1 kuma.example.com", "hostname", "hostnamectl set-hostname kuma.example.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colors written to a non-terminal")
	}
}

func TestDoctorSelection(t *testing.T) {
	n := newNode(t, sandbox.Fault{ServicesDown: true})
	code, out, _ := n.doctor(t, "--format", "json", "--skip", "ports,hosts")
	d := decodeDoctor(t, out)
	if code != 0 || d.status("ports") != "absent" || d.status("hosts") != "absent" {
		t.Fatalf("skip: exit %d %s", code, out)
	}
	code, out, _ = n.doctor(t, "--format", "json", "--only", "machine-id", "--only", "disk")
	d = decodeDoctor(t, out)
	if code != 0 || len(d.Findings) != 2 {
		t.Fatalf("only: exit %d, %d findings", code, len(d.Findings))
	}
}

func TestDoctorUsageErrors(t *testing.T) {
	n := newNode(t, sandbox.Fault{})
	for _, args := range [][]string{
		{"--only", "ntpp"}, {"--format", "xml"}, {"--bogus"}, {"extra-arg"},
		{"--inventory", filepath.Join(t.TempDir(), "missing.yml")},
	} {
		code, _, errOut := n.doctor(t, args...)
		if code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"doctor", "--config", filepath.Join(t.TempDir(), "nope.yaml")}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "nope.yaml") {
		t.Errorf("missing explicit config: exit %d %q", code, errb.String())
	}
}

func TestDoctorNodeNotInInventory(t *testing.T) {
	n := newNode(t, sandbox.Fault{})
	code, out, _ := n.doctor(t, "--format", "json", "--node", "other.example.com", "--only", "inventory")
	d := decodeDoctor(t, out)
	if code != 2 || d.status("inventory") != "crit" || !strings.Contains(d.Findings[0].Message, "not in the inventory") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestConfigCheck(t *testing.T) {
	n := newNode(t, sandbox.Fault{})
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"config", "check", n.cfgPath}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "node_name: kuma.example.com") || !strings.Contains(out.String(), "raft") {
		t.Errorf("resolved config: %s", out.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("checks:\n  interval: 5s\n  intervl: 5s\n"), 0o600)
	out.Reset()
	errb.Reset()
	if code := dispatch(context.Background(), []string{"config", "check", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "bad.yaml:3: checks.intervl: unknown key") {
		t.Errorf("exit %d: %q", code, errb.String())
	}
}

func TestDispatch(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "kuma-agent ") {
		t.Errorf("version: %d %q", code, out.String())
	}
	if code := dispatch(context.Background(), []string{"frobnicate"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Errorf("unknown command: %d", code)
	}
	if code := dispatch(context.Background(), nil, &out, &errb); code != 2 {
		t.Errorf("no command: %d", code)
	}
}
