package clusterchecks

import (
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

var certNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func certFact(file string, days int, layout string) checks.CertFact {
	return checks.CertFact{File: file, Subject: "CN=" + file, NotAfter: certNow.Add(time.Duration(days) * 24 * time.Hour).Unix(), Layout: layout}
}

func certView(certs map[string][]checks.CertFact) View {
	c := inv(cluster.LayoutAcura, "a1=10.0.0.1:acura-node", "a2=10.0.0.2:acura-node", "a3=10.0.0.3:acura-node")
	return View{Inventory: c, Members: placed(c, alive("a1", "a2", "a3")), Certs: certs, Now: certNow}
}

func TestClusterCertsOneFindingNamesTheNode(t *testing.T) {
	v := certView(map[string][]checks.CertFact{
		"a1": {certFact("/etc/kubernetes/pki/ca.crt", 3000, "kubeadm")},
		"a2": {certFact("/etc/kubernetes/pki/apiserver.crt", 5, "kubeadm"), certFact("/etc/kubernetes/admin.conf", 20, "kubeadm")},
		"a3": {certFact("/etc/kubernetes/pki/apiserver.crt", 300, "kubeadm")},
	})
	var got NamedResult
	for _, r := range All(v) {
		if r.Name == CertsCheckName {
			got = r
		}
	}
	if got.Result.Status != checks.Crit || strings.Join(got.Nodes, ",") != "a2" {
		t.Fatalf("%+v", got)
	}
	if !strings.Contains(got.Result.Message, "a2: /etc/kubernetes/pki/apiserver.crt") || !strings.Contains(got.Result.Message, "expires in 5 days") ||
		!strings.Contains(got.Result.Message, "(+1 more)") || !strings.Contains(got.Result.Remedy, "kubeadm certs renew all") {
		t.Fatalf("%+v", got.Result)
	}
	if d := got.Values["a2"]; d != (5 * 24 * time.Hour).Seconds() {
		t.Errorf("a2 value %v", d)
	}
	if _, ok := got.Values["a3"]; !ok {
		t.Errorf("values %v lack a3", got.Values)
	}
}

func TestClusterCertsThresholdsAndStrangers(t *testing.T) {
	v := certView(map[string][]checks.CertFact{"a1": {certFact("/var/lib/k0s/pki/server.crt", 20, "k0s")}})
	if r := checkByName(t, v, CertsCheckName); r.Result.Status != checks.Warn || !strings.Contains(r.Result.Remedy, "k0scontroller") {
		t.Fatalf("%+v", r)
	}
	v.CertWarn, v.CertCrit = 10*24*time.Hour, 24*time.Hour
	if r := checkByName(t, v, CertsCheckName); r.Result.Status != checks.OK {
		t.Fatalf("%+v", r)
	}
	// A member the inventory does not vouch for is no evidence.
	v = certView(map[string][]checks.CertFact{"intruder": {certFact("/x.crt", -1, "extra")}})
	v.Members = append(v.Members, Member{Name: "intruder", Status: StatusAlive})
	if r := checkByName(t, v, CertsCheckName); r.Result.Status != checks.OK || !strings.Contains(r.Result.Message, "no node reported") {
		t.Fatalf("%+v", r)
	}
	// Expired.
	v = certView(map[string][]checks.CertFact{"a3": {certFact("/etc/kubernetes/pki/etcd/peer.crt", -3, "kubeadm")}})
	if r := checkByName(t, v, CertsCheckName); r.Result.Status != checks.Crit || !strings.Contains(r.Result.Message, "expired 3 days ago") {
		t.Fatalf("%+v", r)
	}
}

func TestCapCertFacts(t *testing.T) {
	var fs []checks.CertFact
	for i := range MaxCertFacts + 3 {
		fs = append(fs, checks.CertFact{File: strings.Repeat("f", 1000), Subject: "s", NotAfter: int64(i + 1)})
	}
	fs = append(fs, checks.CertFact{File: "no expiry"})
	out, dropped := CapCertFacts(fs)
	if len(out) != MaxCertFacts || dropped != 4 || len(out[0].File) > maxCertFactText+len(TruncatedMark) {
		t.Fatalf("%d kept, %d dropped, file %d bytes", len(out), dropped, len(out[0].File))
	}
	// The doctor answer with the most certificates still fits the query cap.
	r := TrimDoctorReply(DoctorReply{Host: "a1", Certs: out, Findings: []FindingWire{}}, MaxPayload)
	b, err := EncodePayload(r)
	if err != nil || len(b) > MaxPayload || len(r.Certs) != MaxCertFacts {
		t.Fatalf("%d bytes, %v, %d certs", len(b), err, len(r.Certs))
	}
}

func checkByName(t *testing.T, v View, name string) NamedResult {
	t.Helper()
	for _, r := range All(v) {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s in All", name)
	return NamedResult{}
}
