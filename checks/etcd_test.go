package checks

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
	"github.com/kuma-agent/kuma-agent/internal/testlab/etcdlab"
)

func member(id uint64, name string, healthy bool, raftIndex uint64, db int64) etcd.MemberView {
	m := etcd.MemberView{Member: etcd.Member{ID: etcd.U64(id), Name: name}, Healthy: healthy, Self: id == 1}
	if healthy {
		m.Status = &etcd.Status{RaftIndex: etcd.U64(raftIndex), DBSize: etcd.I64(db)}
	} else {
		m.Err = "connection refused"
	}
	return m
}

func etcdCheckOf(s etcd.Survey, err error) (*Etcd, *etcd.Summary) {
	var got etcd.Summary
	return &Etcd{Node: "c1", Endpoint: "https://127.0.0.1:2379", Survey: func(context.Context) (etcd.Survey, error) { return s, err },
		Inventory: []string{"c1", "c2", "c3"}, Runbook: etcd.RunbookFor(cluster.LayoutK0s, "c1"),
		QuotaBytes: 1000, DBWarn: 80, DBCrit: 95, RaftLagWarn: 100, Publish: func(s etcd.Summary) { got = s }}, &got
}

func TestEtcdCheckFindings(t *testing.T) {
	healthy := etcd.Health{Health: "true"}
	for _, tc := range []struct {
		name    string
		s       etcd.Survey
		err     error
		want    Status
		msg     string
		summary string
	}{
		{"healthy", etcd.Survey{Health: healthy, Leader: 1, Members: []etcd.MemberView{member(1, "c1", true, 10, 100), member(2, "c2", true, 10, 100), member(3, "c3", true, 9, 100)}},
			nil, OK, "etcd healthy: 3 of 3 members, leader c1", "3/3,1,10,0,0"},
		{"no answer", etcd.Survey{}, errors.New("connection refused"), Crit, "does not answer at https://127.0.0.1:2379", "!"},
		{"one down", etcd.Survey{Health: healthy, Leader: 1, Members: []etcd.MemberView{member(1, "c1", true, 10, 100), member(2, "c2", true, 10, 100), member(3, "c3", false, 0, 0)}},
			nil, Warn, "etcd member unhealthy: c3 (2 of 3 healthy, margin 0)", "2/3,1,10,0,0"},
		{"quorum lost", etcd.Survey{Health: etcd.Health{Health: "false", Reason: "RAFT NO LEADER"}, Members: []etcd.MemberView{member(1, "c1", true, 10, 100), member(2, "c2", false, 0, 0), member(3, "c3", false, 0, 0)}},
			nil, Crit, "etcd quorum lost: 1 of 3 members healthy, 2 needed (c2, c3 down)", "1/3,0,10,0,0"},
		{"db near quota", etcd.Survey{Health: healthy, Leader: 1, Members: []etcd.MemberView{member(1, "c1", true, 10, 850), member(2, "c2", true, 10, 100), member(3, "c3", true, 10, 100)}},
			nil, Warn, "etcd database at 85% of its", "3/3,1,85,0,0"},
		{"db full", etcd.Survey{Health: healthy, Leader: 1, Members: []etcd.MemberView{member(1, "c1", true, 10, 960), member(2, "c2", true, 10, 100), member(3, "c3", true, 10, 100)}},
			nil, Crit, "etcd database at 96% of its", "3/3,1,96,0,0"},
		{"lagging", etcd.Survey{Health: healthy, Leader: 1, Members: []etcd.MemberView{member(1, "c1", true, 1000, 1), member(2, "c2", true, 10, 1), member(3, "c3", true, 1000, 1)}},
			nil, Warn, "etcd member lagging: c2 990 behind", "3/3,1,0,0,0"},
		{"stranger and missing", etcd.Survey{Health: healthy, Leader: 1, Members: []etcd.MemberView{member(1, "c1", true, 10, 1), member(2, "c2", true, 10, 1), member(4, "old-c3", true, 10, 1)}},
			nil, Warn, "etcd has members the inventory does not: old-c3; inventory controllers etcd does not list: c3", "3/3,1,0,1,1"},
	} {
		c, sum := etcdCheckOf(tc.s, tc.err)
		r := c.Run(context.Background())
		if r.Status != tc.want || !strings.Contains(r.Message, tc.msg) {
			t.Errorf("%s: %s %q, want %s containing %q", tc.name, r.Status, r.Message, tc.want, tc.msg)
		}
		if r.Status != OK && !strings.Contains(r.Remedy, "`") {
			t.Errorf("%s: remedy %q names no command", tc.name, r.Remedy)
		}
		if got := sum.String(); got != tc.summary {
			t.Errorf("%s: gossiped summary %q, want %q", tc.name, got, tc.summary)
		}
	}
}

// A real etcd, read the way plan wires the check (the layout's PKI
// paths): healthy, then a killed member is etcd's own finding.
func TestEtcdCheckOnRealEtcd(t *testing.T) {
	lab := etcdlab.Start(t, etcdlab.Options{Members: 3, Names: []string{"c1", "c2", "c3"}})
	files := etcd.TLSFiles(lab.LayoutPKI(etcdlab.Kubeadm))
	survey := func(ctx context.Context) (etcd.Survey, error) {
		cl, err := etcd.NewClient(files, 2*time.Second)
		if err != nil {
			return etcd.Survey{}, err
		}
		defer cl.HTTP.CloseIdleConnections()
		return cl.Survey(ctx, lab.Members[0].ClientURL, nil)
	}
	c := &Etcd{Node: "c1", Endpoint: lab.Members[0].ClientURL, Survey: survey, Inventory: []string{"c1", "c2", "c3"},
		Runbook: etcd.RunbookFor(cluster.LayoutAcura, "c1"), QuotaBytes: 2 << 30, DBWarn: 80, DBCrit: 95, RaftLagWarn: 1000}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r := c.Run(ctx); r.Status != OK || len(r.Details) != 3 {
		t.Fatalf("healthy cluster: %s %q %q", r.Status, r.Message, r.Details)
	}
	lab.Kill(lab.Members[2])
	// Killing the leader costs an election (etcd's /health says false
	// meanwhile, a critical finding): wait for the settled verdict.
	r := c.Run(ctx)
	for r.Status == Crit && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		r = c.Run(ctx)
	}
	if r.Status != Warn || !strings.Contains(r.Message, "etcd member unhealthy: c3") || !strings.Contains(r.Remedy, "kubectl exec etcd-c1 -n kube-system") {
		t.Fatalf("killed member: %s %q remedy %q", r.Status, r.Message, r.Remedy)
	}
	lab.Stop(lab.Members[1])
	r = c.Run(ctx)
	if r.Status != Crit || !strings.Contains(r.Message, "etcd quorum lost") {
		t.Fatalf("two of three down: %s %q", r.Status, r.Message)
	}
}
