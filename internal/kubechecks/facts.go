// Package kubechecks judges what the Kubernetes API says about the two
// Kubernetes-based layouts (KUMA Core on k0s with Longhorn; Acura on
// kubeadm) as cluster findings: Node readiness, the KUMA Core pod, Longhorn
// volumes and nodes, Acura's pods. Gather reads the API (read-only); the
// judging functions are pure functions of the Facts.
package kubechecks

import (
	"context"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/kube"
)

// Reader is the part of the Kubernetes API the checks read (kube.Client).
type Reader interface {
	Nodes(ctx context.Context, o kube.ListOptions) ([]kube.Node, error)
	Pods(ctx context.Context, namespace string, o kube.ListOptions) ([]kube.Pod, error)
	LonghornVolumes(ctx context.Context) ([]kube.LonghornVolume, error)
	LonghornNodes(ctx context.Context) ([]kube.LonghornNode, error)
}

// CoreSelector identifies the KUMA Core pod. KUMA documents the namespace
// (`-n kuma`) and the deployment (core-deployment) but not the pod labels:
// by default every pod of the namespace whose name starts with NamePrefix.
type CoreSelector struct {
	Namespace     string
	LabelSelector string
	NamePrefix    string
}

// DefaultCoreSelector is KUMA's documented namespace and deployment name.
var DefaultCoreSelector = CoreSelector{Namespace: "kuma", NamePrefix: "core-deployment"}

// CorePods lists the Core pods the selector names.
func (s CoreSelector) CorePods(ctx context.Context, r Reader) ([]kube.Pod, error) {
	pods, err := r.Pods(ctx, s.Namespace, kube.ListOptions{LabelSelector: s.LabelSelector})
	if err != nil {
		return nil, err
	}
	out := pods[:0]
	for _, p := range pods {
		if strings.HasPrefix(p.Metadata.Name, s.NamePrefix) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Facts is one reading of the API; each list has its own error (one
// unreadable list does not hide the others).
type Facts struct {
	Layout cluster.Layout
	// Source names where the API was read from (the kubeconfig), for
	// messages; Err is set when there was no API to read (no kubeconfig).
	Source string
	Err    error
	Now    time.Time

	Nodes    []kube.Node
	NodesErr error
	Core     CoreSelector
	CorePods []kube.Pod
	CoreErr  error
	// Longhorn (k0s layout).
	Volumes    []kube.LonghornVolume
	VolumesErr error
	LHNodes    []kube.LonghornNode
	LHNodesErr error
	// Pods of every namespace (Acura layout).
	Pods    []kube.Pod
	PodsErr error
}

// Gather reads what the layout's checks judge.
func Gather(ctx context.Context, r Reader, layout cluster.Layout, core CoreSelector, now time.Time) Facts {
	f := Facts{Layout: layout, Core: core, Now: now}
	f.Nodes, f.NodesErr = r.Nodes(ctx, kube.ListOptions{})
	switch layout {
	case cluster.LayoutK0s:
		f.CorePods, f.CoreErr = core.CorePods(ctx, r)
		f.Volumes, f.VolumesErr = r.LonghornVolumes(ctx)
		f.LHNodes, f.LHNodesErr = r.LonghornNodes(ctx)
	case cluster.LayoutAcura:
		f.Pods, f.PodsErr = r.Pods(ctx, "", kube.ListOptions{})
	}
	return f
}

// Applies reports whether a layout runs on Kubernetes.
func Applies(l cluster.Layout) bool { return l == cluster.LayoutK0s || l == cluster.LayoutAcura }

// kubectl is the layout's kubectl for the runbook commands.
func kubectl(l cluster.Layout) string {
	if l == cluster.LayoutK0s {
		return "k0s kubectl"
	}
	return "kubectl --kubeconfig /etc/kubernetes/admin.conf"
}
