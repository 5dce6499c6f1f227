package etcdlab

import (
	"context"
	"net/http"
	"testing"
	"time"
)

type memberList struct {
	Header struct {
		MemberID string `json:"member_id"`
	} `json:"header"`
	Members []struct {
		ID       string   `json:"ID"`
		Name     string   `json:"name"`
		PeerURLs []string `json:"peerURLs"`
	} `json:"members"`
}

func TestThreeMembersStopAndRestart(t *testing.T) {
	c := Start(t, Options{Members: 3, Names: []string{"ctl-1", "ctl-2", "ctl-3"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ml memberList
	if err := c.Post(ctx, c.Members[0], "/v3/cluster/member/list", struct{}{}, &ml); err != nil {
		t.Fatal(err)
	}
	if len(ml.Members) != 3 {
		t.Fatalf("member list: %d members, want 3: %+v", len(ml.Members), ml)
	}
	names := map[string]bool{}
	for _, m := range ml.Members {
		names[m.Name] = true
		if m.ID == "" {
			t.Fatalf("member %q has no ID string: %+v", m.Name, ml)
		}
	}
	for _, want := range []string{"ctl-1", "ctl-2", "ctl-3"} {
		if !names[want] {
			t.Fatalf("member %s missing: %+v", want, ml)
		}
	}

	c.Stop(c.Members[2])
	if c.Members[2].Running() {
		t.Fatal("ctl-3 still running after Stop")
	}
	if ok, _ := health(c.HTTPClient(), c.Members[2].ClientURL); ok {
		t.Fatal("stopped member answers /health")
	}
	c.Restart(c.Members[2])
	if ok, err := health(c.HTTPClient(), c.Members[2].ClientURL); !ok {
		t.Fatalf("restarted member unhealthy: %v", err)
	}
}

func TestClientWithoutCertificateRefused(t *testing.T) {
	c := Start(t, Options{})
	hc := c.HTTPClient()
	tr := hc.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = nil
	if _, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(c.Members[0].ClientURL + "/health"); err == nil {
		t.Fatal("a client without a certificate was answered")
	}
}
