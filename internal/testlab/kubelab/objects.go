package kubelab

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// The tests play the controllers (there is none): these helpers create
// and change the objects a kubelet, the node controller, a scheduler or
// Longhorn's manager would.

// CreateNode creates a Node whose Ready condition is ready ("True",
// "False", "Unknown").
func (s *APIServer) CreateNode(t testlab.TB, name, ready string) {
	t.Helper()
	s.MustDo(t, http.MethodPost, "/api/v1/nodes", fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Node","metadata":{"name":%q}}`, name))
	s.SetNodeReady(t, name, ready)
}

// SetNodeReady sets a Node's Ready condition as the node controller does
// for a silent kubelet ("Unknown") or a kubelet does ("True"/"False").
func (s *APIServer) SetNodeReady(t testlab.TB, name, ready string) {
	t.Helper()
	now := time.Now().UTC().Format(time.RFC3339)
	s.MustDo(t, http.MethodPatch, "/api/v1/nodes/"+name+"/status", fmt.Appendf(nil,
		`{"status":{"conditions":[{"type":"Ready","status":%q,"reason":"Lab","lastHeartbeatTime":%q,"lastTransitionTime":%q}]}}`, ready, now, now))
}

// CreateNamespace creates a namespace.
func (s *APIServer) CreateNamespace(t testlab.TB, name string) {
	t.Helper()
	s.MustDo(t, http.MethodPost, "/api/v1/namespaces", fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, name))
}

// CreatePod creates a Pod bound to node (the scheduler's part) in phase
// (the kubelet's part).
func (s *APIServer) CreatePod(t testlab.TB, namespace, name, node, phase string) {
	t.Helper()
	s.MustDo(t, http.MethodPost, "/api/v1/namespaces/"+namespace+"/pods", fmt.Appendf(nil,
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":{"nodeName":%q,"containers":[{"name":"c","image":"lab"}]}}`, name, node))
	s.MustDo(t, http.MethodPatch, "/api/v1/namespaces/"+namespace+"/pods/"+name+"/status", fmt.Appendf(nil, `{"status":{"phase":%q}}`, phase))
}

// DeletePod deletes a Pod at once (grace 0: no kubelet would confirm it).
func (s *APIServer) DeletePod(t testlab.TB, namespace, name string) {
	t.Helper()
	s.MustDo(t, http.MethodDelete, "/api/v1/namespaces/"+namespace+"/pods/"+name, []byte(`{"apiVersion":"v1","kind":"DeleteOptions","gracePeriodSeconds":0}`))
}

// longhornCRDs are Longhorn's two CRs the agent reads, with a status
// subresource and no schema (Longhorn's own is large; the agent reads a
// few fields).
var longhornCRDs = []struct{ plural, kind string }{{"volumes", "Volume"}, {"nodes", "Node"}}

// CreateLonghornCRDs creates volumes.longhorn.io and nodes.longhorn.io
// (v1beta2) and the longhorn-system namespace, and waits until both serve.
func (s *APIServer) CreateLonghornCRDs(t testlab.TB) {
	t.Helper()
	s.CreateNamespace(t, "longhorn-system")
	for _, c := range longhornCRDs {
		s.MustDo(t, http.MethodPost, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", fmt.Appendf(nil, `{
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "%s.longhorn.io"},
  "spec": {"group": "longhorn.io", "scope": "Namespaced",
    "names": {"plural": %q, "singular": %q, "kind": %q},
    "versions": [{"name": "v1beta2", "served": true, "storage": true, "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}`,
			c.plural, c.plural, c.plural[:len(c.plural)-1], c.kind))
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range longhornCRDs {
		for {
			code, _, err := s.Do(context.Background(), http.MethodGet, "/apis/longhorn.io/v1beta2/namespaces/longhorn-system/"+c.plural, nil)
			if err == nil && code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kubelab: %s.longhorn.io not served after 30 s: %d %v", c.plural, code, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// PutLonghorn creates a Longhorn object (plural: volumes or nodes) with
// spec and then its status through the status subresource, as Longhorn's
// manager does. spec and status are JSON objects.
func (s *APIServer) PutLonghorn(t testlab.TB, plural, name, spec, status string) {
	t.Helper()
	base := "/apis/longhorn.io/v1beta2/namespaces/longhorn-system/" + plural
	kind := "Volume"
	if plural == "nodes" {
		kind = "Node"
	}
	s.MustDo(t, http.MethodPost, base, fmt.Appendf(nil, `{"apiVersion":"longhorn.io/v1beta2","kind":%q,"metadata":{"name":%q},"spec":%s}`, kind, name, spec))
	s.MustDo(t, http.MethodPatch, base+"/"+name+"/status", fmt.Appendf(nil, `{"status":%s}`, status))
}
