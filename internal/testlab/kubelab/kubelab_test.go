package kubelab

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The lab plays a controller: a Node is created, marked NotReady through the status
// subresource, tainted with a JSON patch, and read back as a checker would.
func TestNodeStatusAndTaint(t *testing.T) {
	s := Start(t, Options{})
	s.MustDo(t, http.MethodPost, "/api/v1/nodes", []byte(`{"apiVersion":"v1","kind":"Node","metadata":{"name":"worker-1"}}`))
	s.MustDo(t, http.MethodPatch, "/api/v1/nodes/worker-1/status",
		[]byte(`{"status":{"conditions":[{"type":"Ready","status":"False","reason":"NodeStatusUnknown"}]}}`))
	s.MustDo(t, http.MethodPatch, "/api/v1/nodes/worker-1",
		[]byte(`[{"op":"add","path":"/spec/taints","value":[{"key":"node.kubernetes.io/out-of-service","value":"nodeshutdown","effect":"NoExecute"}]}]`))
	var node struct {
		Spec struct {
			Taints []struct{ Key, Effect string } `json:"taints"`
		} `json:"spec"`
		Status struct {
			Conditions []struct{ Type, Status string } `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal(s.MustDo(t, http.MethodGet, "/api/v1/nodes/worker-1", nil), &node); err != nil {
		t.Fatal(err)
	}
	if len(node.Status.Conditions) != 1 || node.Status.Conditions[0].Status != "False" {
		t.Fatalf("conditions: %+v", node.Status.Conditions)
	}
	found := false
	for _, tt := range node.Spec.Taints {
		found = found || (tt.Key == "node.kubernetes.io/out-of-service" && tt.Effect == "NoExecute")
	}
	if !found {
		t.Fatalf("taint not applied: %+v", node.Spec.Taints)
	}
}

func TestLayoutKubeconfig(t *testing.T) {
	s := Start(t, Options{})
	root := t.TempDir()
	if err := s.WriteLayoutKubeconfig(root, K0s); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, K0s.AdminConf))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "server: "+s.URL) || !strings.Contains(string(data), "client-certificate-data:") {
		t.Fatalf("kubeconfig:\n%s", data)
	}
	st, err := os.Stat(filepath.Join(root, K0s.AdminConf))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig mode: %v %v", st.Mode(), err)
	}
}
