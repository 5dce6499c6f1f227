package etcd

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab/etcdlab"
)

func labClient(t *testing.T, c *etcdlab.Cluster) *Client {
	t.Helper()
	f := TLSFiles(c.LayoutPKI(etcdlab.K0s))
	cl, err := NewClient(f, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestLabSingleMember(t *testing.T) {
	lab := etcdlab.Start(t, etcdlab.Options{Names: []string{"ctl-1"}})
	cl := labClient(t, lab)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := cl.Survey(ctx, lab.Members[0].ClientURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Health.OK() || len(s.Members) != 1 || !s.Members[0].Healthy || !s.Members[0].Self || s.Leader != s.Self || s.LeaderName() != "ctl-1" {
		t.Fatalf("survey %+v", s)
	}
	if st := s.LocalStatus(); st == nil || st.DBSize <= 0 || st.RaftIndex == 0 {
		t.Fatalf("local status %+v", st)
	}
	if q := s.Quorum(); !q.HasQuorum || q.Members != 1 || q.Margin != 0 {
		t.Fatalf("quorum %+v", q)
	}
}

func TestLabKilledMemberAndRemovalByID(t *testing.T) {
	lab := etcdlab.Start(t, etcdlab.Options{Members: 3, Names: []string{"ctl-1", "ctl-2", "ctl-3"}})
	cl := labClient(t, lab)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ep := lab.Members[0].ClientURL
	s, err := cl.Survey(ctx, ep, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q := s.Quorum(); q.Healthy != 3 || s.Leader == 0 {
		t.Fatalf("healthy cluster: %+v leader %d", q, s.Leader)
	}
	lab.Kill(lab.Members[2])
	// If ctl-3 led, the survivors need an election (etcd's election timeout, longer
	// under load) before the survey can name a leader: poll until one is named.
	for {
		s, err = cl.Survey(ctx, ep, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.Leader != 0 || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	dead, ok := s.Member("ctl-3")
	if !ok || dead.Healthy || dead.Err == "" {
		t.Fatalf("killed member: %+v", dead)
	}
	if q := s.Quorum(); q.Healthy != 2 || !q.HasQuorum || s.Leader == 0 {
		t.Fatalf("after the kill: %+v leader %d", q, s.Leader)
	}
	// A removal is a configuration change the survivors must commit: on a loaded machine
	// it may outlast one request's timeout (and still be applied). The product's cleanup
	// retries on its next pass; so does the test, until the member is gone.
	for {
		err := cl.RemoveMember(ctx, ep, uint64(dead.ID))
		if err == nil {
			break
		}
		if ml, lerr := cl.MemberList(ctx, ep); lerr == nil && !slices.ContainsFunc(ml.Members, func(m Member) bool { return m.Name == "ctl-3" }) {
			break // the timed-out request was applied
		}
		if ctx.Err() != nil {
			t.Fatalf("remove ctl-3: %v", err)
		}
		t.Logf("remove ctl-3: %v (retrying)", err)
		time.Sleep(500 * time.Millisecond)
	}
	ml, err := cl.MemberList(ctx, ep)
	if err != nil || len(ml.Members) != 2 {
		t.Fatalf("after removal: %+v %v", ml, err)
	}
	for _, m := range ml.Members {
		if m.Name == "ctl-3" {
			t.Fatal("ctl-3 still a member")
		}
	}
}
