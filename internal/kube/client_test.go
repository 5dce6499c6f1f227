package kube

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI is an httptest API server: it answers GETs from a map of paths
// and records every request.
type fakeAPI struct {
	mu      sync.Mutex
	objects map[string]string // path -> JSON answer
	patches []string          // bodies of the PATCHes received
	deletes []string
	seen    []*http.Request
	patchFn func(path string, body []byte) (int, string)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, r)
	switch r.Method {
	case http.MethodGet:
		body, ok := f.objects[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"kind":"Status","reason":"NotFound","message":"not found"}`)
			return
		}
		_, _ = io.WriteString(w, body)
	case http.MethodPatch:
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json-patch+json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		f.patches = append(f.patches, string(b))
		code, answer := http.StatusOK, "{}"
		if f.patchFn != nil {
			code, answer = f.patchFn(r.URL.Path, b)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, answer)
	case http.MethodDelete:
		f.deletes = append(f.deletes, r.URL.Path)
		if _, ok := f.objects[r.URL.Path]; !ok {
			w.WriteHeader(http.StatusNotFound)
		}
	}
}

func newFake(t *testing.T, f *fakeAPI) *Client {
	t.Helper()
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := New(Target{Source: "test", Server: srv.URL, CAPEM: ca, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGetsDecodeAndSelect(t *testing.T) {
	f := &fakeAPI{objects: map[string]string{
		"/api/v1/nodes": `{"items":[{"metadata":{"name":"w1","resourceVersion":"7"},"spec":{"taints":[{"key":"a","effect":"NoSchedule"}]},
			"status":{"conditions":[{"type":"Ready","status":"False","reason":"KubeletDown"}],"images":[{"names":["big"]}]}}]}`,
		"/api/v1/namespaces/kuma/pods":                                 `{"items":[{"metadata":{"name":"core-0","namespace":"kuma"},"spec":{"nodeName":"w1"},"status":{"phase":"Running"}}]}`,
		"/apis/longhorn.io/v1beta2/namespaces/longhorn-system/volumes": `{"items":[{"metadata":{"name":"pvc-1"},"spec":{"numberOfReplicas":3},"status":{"state":"attached","robustness":"degraded","currentNodeID":"w1"}}]}`,
		"/apis/longhorn.io/v1beta2/namespaces/longhorn-system/nodes":   `{"items":[{"metadata":{"name":"w1"},"status":{"conditions":[{"type":"Ready","status":"True"}],"diskStatus":{"d1":{"conditions":[{"type":"Schedulable","status":"False"}]}}}}]}`,
	}}
	c := newFake(t, f)
	ctx := context.Background()
	nodes, err := c.Nodes(ctx, ListOptions{})
	if err != nil || len(nodes) != 1 || nodes[0].Ready() != "False" || !nodes[0].HasTaint("a", "NoSchedule") || nodes[0].Metadata.ResourceVersion != "7" {
		t.Fatalf("nodes: %+v %v", nodes, err)
	}
	pods, err := c.Pods(ctx, "kuma", ListOptions{LabelSelector: "app=core", FieldSelector: "spec.nodeName=w1"})
	if err != nil || len(pods) != 1 || pods[0].Spec.NodeName != "w1" || pods[0].Status.Phase != "Running" {
		t.Fatalf("pods: %+v %v", pods, err)
	}
	q := f.seen[1].URL.Query()
	if q.Get("labelSelector") != "app=core" || q.Get("fieldSelector") != "spec.nodeName=w1" || f.seen[1].Header.Get("Authorization") != "Bearer tok" {
		t.Fatalf("request: %v %v", f.seen[1].URL, f.seen[1].Header)
	}
	vols, err := c.LonghornVolumes(ctx)
	if err != nil || len(vols) != 1 || vols[0].Status.Robustness != "degraded" || vols[0].Spec.NumberOfReplicas != 3 {
		t.Fatalf("volumes: %+v %v", vols, err)
	}
	lns, err := c.LonghornNodes(ctx)
	if err != nil || len(lns) != 1 || lns[0].Status.DiskStatus["d1"].Conditions[0].Status != "False" {
		t.Fatalf("longhorn nodes: %+v %v", lns, err)
	}
	if _, err := c.Node(ctx, "gone"); !IsNotFound(err) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing node: %v", err)
	}
}

func TestAnswerSizeLimited(t *testing.T) {
	f := &fakeAPI{objects: map[string]string{"/api/v1/nodes": `{"items":[` + strings.Repeat(`{},`, 1000) + `{}]}`}}
	c := newFake(t, f)
	WithMaxBody(1000)(c)
	if _, err := c.Nodes(context.Background(), ListOptions{}); err == nil || !strings.Contains(err.Error(), "larger than 1000 bytes") {
		t.Fatalf("err = %v", err)
	}
}

// An apiserver that does not answer within the client's timeout: the call
// fails naming the deadline.
func TestRequestTimedOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			// The client gave up. Returning normally would send an empty
			// 200, which a client racing its own cancellation (CI, both
			// cores busy, 11-28) read as the answer: "decoding the answer:
			// unexpected end of JSON input". Abort: no answer at all.
			panic(http.ErrAbortHandler)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := New(Target{Source: "test", Server: srv.URL, CAPEM: ca, Token: "t"}, WithTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Nodes(context.Background(), ListOptions{}); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v", err)
	}
}

// A CA that is not PEM is refused when the client is built, naming the kubeconfig.
func TestBadCARefused(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	_, err := New(Target{Source: "kc", Server: srv.URL, CAPEM: []byte("garbage"), Token: "t"})
	if err == nil || !strings.Contains(err.Error(), "kubeconfig kc: certificate-authority") {
		t.Fatalf("err = %v", err)
	}
}

func decodeOps(t *testing.T, body string) []patchOp {
	t.Helper()
	var ops []patchOp
	if err := json.Unmarshal([]byte(body), &ops); err != nil {
		t.Fatalf("patch %s: %v", body, err)
	}
	return ops
}

func TestAddTaintTestsResourceVersion(t *testing.T) {
	f := &fakeAPI{}
	c := newFake(t, f)
	var n Node
	n.Metadata = Meta{Name: "w1", ResourceVersion: "42"}
	if err := c.AddTaint(context.Background(), n, OutOfService, "by e1"); err != nil {
		t.Fatal(err)
	}
	ops := decodeOps(t, f.patches[0])
	if len(ops) != 3 || ops[0].Op != "test" || ops[0].Path != "/metadata/resourceVersion" || ops[0].Value != "42" ||
		ops[1].Op != "add" || ops[1].Path != "/spec/taints" || ops[2].Path != "/metadata/annotations" {
		t.Fatalf("ops: %+v", ops)
	}
	// Existing taints and annotations: appended, one key added.
	n.Spec.Taints = []Taint{{Key: "x", Effect: "NoSchedule"}}
	n.Metadata.Annotations = map[string]string{"a": "b"}
	if err := c.AddTaint(context.Background(), n, OutOfService, "by e1"); err != nil {
		t.Fatal(err)
	}
	ops = decodeOps(t, f.patches[1])
	if ops[1].Path != "/spec/taints/-" || ops[2].Path != "/metadata/annotations/kuma-agent~1out-of-service" {
		t.Fatalf("ops: %+v", ops)
	}
	// Already tainted: nothing sent.
	n.Spec.Taints = append(n.Spec.Taints, OutOfService)
	if err := c.AddTaint(context.Background(), n, OutOfService, "by e1"); err != nil || len(f.patches) != 2 {
		t.Fatalf("err %v, patches %d", err, len(f.patches))
	}
}

func TestRemoveTaintTestsTheEntry(t *testing.T) {
	f := &fakeAPI{}
	c := newFake(t, f)
	var n Node
	n.Metadata = Meta{Name: "w1", Annotations: map[string]string{AppliedByAnnotation: "x"}}
	n.Spec.Taints = []Taint{{Key: "x", Effect: "NoSchedule"}, OutOfService}
	if err := c.RemoveTaint(context.Background(), n, OutOfService); err != nil {
		t.Fatal(err)
	}
	ops := decodeOps(t, f.patches[0])
	if len(ops) != 4 || ops[0].Op != "test" || ops[0].Path != "/spec/taints/1/key" || ops[1].Path != "/spec/taints/1/effect" ||
		ops[2].Op != "remove" || ops[2].Path != "/spec/taints/1" || ops[3].Path != "/metadata/annotations/kuma-agent~1out-of-service" {
		t.Fatalf("ops: %+v", ops)
	}
	n.Spec.Taints = n.Spec.Taints[:1]
	if err := c.RemoveTaint(context.Background(), n, OutOfService); err != nil || len(f.patches) != 1 {
		t.Fatalf("untainted node patched: %v %d", err, len(f.patches))
	}
}

func TestConflictIsReported(t *testing.T) {
	f := &fakeAPI{patchFn: func(string, []byte) (int, string) {
		return http.StatusUnprocessableEntity, `{"kind":"Status","reason":"Invalid","message":"the server rejected our request due to an error in our request"}`
	}}
	c := newFake(t, f)
	var n Node
	n.Metadata = Meta{Name: "w1", ResourceVersion: "1"}
	err := c.AddTaint(context.Background(), n, OutOfService, "")
	if !IsConflict(err) {
		t.Fatalf("err = %v, want a conflict", err)
	}
}

func TestDeleteNode(t *testing.T) {
	f := &fakeAPI{objects: map[string]string{"/api/v1/nodes/w1": "{}"}}
	c := newFake(t, f)
	if err := c.DeleteNode(context.Background(), "w1"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteNode(context.Background(), "gone"); err != nil {
		t.Fatalf("a node already gone: %v", err)
	}
	if len(f.deletes) != 2 || f.deletes[0] != "/api/v1/nodes/w1" {
		t.Fatalf("deletes: %v", f.deletes)
	}
}
