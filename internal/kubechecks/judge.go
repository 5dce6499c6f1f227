package kubechecks

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/kube"
)

// The checks' names (they key --only/--skip, metrics and events).
const (
	NodesCheckName           = "kube-nodes"
	CorePodCheckName         = "kube-core-pod"
	LonghornVolumesCheckName = "longhorn-volumes"
	LonghornNodesCheckName   = "longhorn-nodes"
	PodsCheckName            = "kube-pods"
)

// table is every check with the layouts it applies to.
var table = []struct {
	name    string
	layouts []cluster.Layout
	judge   func(Facts) (checks.Result, []string)
}{
	{NodesCheckName, []cluster.Layout{cluster.LayoutK0s, cluster.LayoutAcura}, nodes},
	{CorePodCheckName, []cluster.Layout{cluster.LayoutK0s}, corePod},
	{LonghornVolumesCheckName, []cluster.Layout{cluster.LayoutK0s}, volumes},
	{LonghornNodesCheckName, []cluster.Layout{cluster.LayoutK0s}, longhornNodes},
	{PodsCheckName, []cluster.Layout{cluster.LayoutAcura}, pods},
}

// All judges f: one result per check of f's layout, in a stable order.
func All(f Facts) []clusterchecks.NamedResult {
	var out []clusterchecks.NamedResult
	for _, c := range table {
		if !slices.Contains(c.layouts, f.Layout) {
			continue
		}
		var r checks.Result
		var nodes []string
		if f.Err != nil {
			r = checks.Unknownf("Kubernetes API not read: "+f.Err.Error(),
				"Make the admin kubeconfig readable on the cluster evaluator (kubernetes.kubeconfig in /etc/kuma-agent/agent.yaml; k0s: "+kube.K0sAdminConf+", kubeadm: "+kube.KubeadmAdminConf+").")
		} else {
			r, nodes = c.judge(f)
		}
		slices.Sort(nodes)
		out = append(out, clusterchecks.NamedResult{Name: c.name, Result: r, Nodes: slices.Compact(nodes)})
	}
	return out
}

// unreadable is the result for a list the API did not give.
func unreadable(f Facts, what string, err error, cmd string) checks.Result {
	return checks.Unknownf(fmt.Sprintf("%s not read from the Kubernetes API (%s): %v", what, f.Source, err),
		"Check the API server and the kubeconfig's rights: `"+cmd+"`.")
}

// since renders how long ago t was ("" when unknown).
func since(now, t time.Time) string {
	if t.IsZero() || now.IsZero() {
		return ""
	}
	return " for " + now.Sub(t).Round(time.Second).String()
}

func nodes(f Facts) (checks.Result, []string) {
	cmd := kubectl(f.Layout) + " get nodes -o wide"
	if f.NodesErr != nil {
		return unreadable(f, "Nodes", f.NodesErr, cmd), nil
	}
	if len(f.Nodes) == 0 {
		return checks.Critf("the API lists no Nodes", "Check that the workers joined: `"+cmd+"`."), nil
	}
	var bad, details []string
	for _, n := range f.Nodes {
		c, ok := kube.FindCondition(n.Status.Conditions, "Ready")
		if ok && c.Status == "True" {
			continue
		}
		bad = append(bad, n.Metadata.Name)
		st := "no Ready condition"
		if ok {
			st = "Ready=" + c.Status + since(f.Now, c.LastTransitionTime)
			if c.Reason != "" {
				st += " (" + c.Reason + ")"
			}
		}
		details = append(details, n.Metadata.Name+": "+st)
	}
	if len(bad) == 0 {
		return checks.Okf(fmt.Sprintf("%d of %d Nodes Ready", len(f.Nodes), len(f.Nodes))), nil
	}
	return checks.Critf(fmt.Sprintf("%d of %d Nodes not Ready: %s", len(bad), len(f.Nodes), strings.Join(bad, ", ")),
		"See why: `"+kubectl(f.Layout)+" describe node "+bad[0]+"` and on the node `systemctl status k0sworker` (k0s) or `systemctl status kubelet` (kubeadm); `"+cmd+"`.",
		details...), bad
}

// notRunningSince is when a pod stopped running, as far as its status says.
func notRunningSince(p kube.Pod) time.Time {
	if c, ok := kube.FindCondition(p.Status.Conditions, "Ready"); ok && c.Status != "True" {
		return c.LastTransitionTime
	}
	if p.Status.StartTime != nil {
		return *p.Status.StartTime
	}
	return p.Metadata.CreationTimestamp
}

func corePod(f Facts) (checks.Result, []string) {
	cmd := "k0s kubectl get pod -n " + f.Core.Namespace + " -o wide"
	if f.CoreErr != nil {
		return unreadable(f, "the KUMA Core pod", f.CoreErr, cmd), nil
	}
	if len(f.CorePods) == 0 {
		return checks.Critf(fmt.Sprintf("no KUMA Core pod in namespace %s (pods named %s*%s)", f.Core.Namespace, f.Core.NamePrefix, selText(f.Core)),
			"The web UI is down until it runs: `"+cmd+"`, `k0s kubectl -n "+f.Core.Namespace+" get deployment`. If the site's Core pod is named or labelled differently, set kubernetes.core in /etc/kuma-agent/agent.yaml."), nil
	}
	ready := map[string]string{}
	for _, n := range f.Nodes {
		ready[n.Metadata.Name] = n.Ready()
	}
	worst := checks.OK
	var details, nodes []string
	var msgs []string
	for _, p := range f.CorePods {
		where := p.Spec.NodeName
		line := p.Metadata.Name + " on " + orNone(where) + ": " + orNone(p.Status.Phase)
		switch {
		case p.Metadata.DeletionTimestamp != nil:
			worst = checks.Worst(worst, checks.Crit)
			line += ", terminating" + since(f.Now, *p.Metadata.DeletionTimestamp)
		case p.Status.Phase != "Running":
			worst = checks.Worst(worst, checks.Crit)
			line += ", not Running" + since(f.Now, notRunningSince(p))
		case where != "" && ready[where] != "" && ready[where] != "True":
			worst = checks.Worst(worst, checks.Crit)
			line += ", its node is Ready=" + ready[where]
		default:
			if c, ok := kube.FindCondition(p.Status.Conditions, "Ready"); ok && c.Status != "True" {
				worst = checks.Worst(worst, checks.Warn)
				line += ", not Ready" + since(f.Now, c.LastTransitionTime)
			}
		}
		if where != "" {
			nodes = append(nodes, where)
		}
		details = append(details, line)
		msgs = append(msgs, line)
	}
	msg := "KUMA Core pod " + strings.Join(msgs, "; ")
	switch worst {
	case checks.OK:
		return checks.Okf(msg, details...), nodes
	case checks.Warn:
		return checks.Warnf(msg, "Look at its events: `k0s kubectl describe pod -n "+f.Core.Namespace+" "+f.CorePods[0].Metadata.Name+"`; `"+cmd+"`.", details...), nodes
	}
	return checks.Critf(msg, "The web UI is down until the Core runs. `"+cmd+"`; `k0s kubectl describe pod -n "+f.Core.Namespace+" "+f.CorePods[0].Metadata.Name+
		"`. A dead worker releases it after ~6 minutes (or at once with the out-of-service taint: kubernetes.failover); its volume: `k0s kubectl -n longhorn-system get volumes.longhorn.io`.", details...), nodes
}

func selText(s CoreSelector) string {
	if s.LabelSelector == "" {
		return ""
	}
	return ", labels " + s.LabelSelector
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// minReplicas is the fewest replicas a Longhorn volume should have: with
// one, the loss of its node loses the data.
const minReplicas = 2

func volumes(f Facts) (checks.Result, []string) {
	cmd := "k0s kubectl -n longhorn-system get volumes.longhorn.io"
	if f.VolumesErr != nil {
		return unreadable(f, "Longhorn volumes", f.VolumesErr, cmd), nil
	}
	if len(f.Volumes) == 0 {
		return checks.Okf("no Longhorn volumes"), nil
	}
	worst := checks.OK
	var details, nodes, bad []string
	for _, v := range f.Volumes {
		st := checks.OK
		var why []string
		switch v.Status.Robustness {
		case "faulted":
			st, why = checks.Crit, append(why, "faulted (no healthy replica: the data is unavailable)")
		case "degraded":
			st, why = checks.Warn, append(why, "degraded (fewer healthy replicas than configured; rebuilding)")
		case "unknown", "":
			if v.Status.State == "attached" {
				st, why = checks.Warn, append(why, "robustness unknown while attached")
			}
		}
		if n := v.Spec.NumberOfReplicas; n > 0 && n < minReplicas {
			st, why = checks.Worst(st, checks.Warn), append(why, fmt.Sprintf("%d replica (losing its node loses the data)", n))
		}
		line := fmt.Sprintf("%s: %s, %s, %d replicas, on %s", v.Metadata.Name, orNone(v.Status.State), orNone(v.Status.Robustness), v.Spec.NumberOfReplicas, orNone(v.Status.CurrentNodeID))
		if st != checks.OK {
			line += ": " + strings.Join(why, "; ")
			bad = append(bad, v.Metadata.Name)
			if v.Status.CurrentNodeID != "" {
				nodes = append(nodes, v.Status.CurrentNodeID)
			}
		}
		worst = checks.Worst(worst, st)
		details = append(details, line)
	}
	if worst == checks.OK {
		return checks.Okf(fmt.Sprintf("%d Longhorn volumes healthy", len(f.Volumes)), details...), nil
	}
	msg := fmt.Sprintf("%d of %d Longhorn volumes not healthy: %s", len(bad), len(f.Volumes), strings.Join(bad, ", "))
	remedy := "`" + cmd + "`; a degraded volume rebuilds on its own (large volumes can take hours, exposed to the next failure): keep every worker up meanwhile. A faulted one needs a replica back: see `k0s kubectl -n longhorn-system get replicas.longhorn.io` and Longhorn's UI."
	if worst == checks.Crit {
		return checks.Critf(msg, remedy, details...), nodes
	}
	return checks.Warnf(msg, remedy, details...), nodes
}

// longhornCritical are the node conditions without which the node holds
// no replica.
var longhornCritical = []string{"Ready", "Schedulable"}

func longhornNodes(f Facts) (checks.Result, []string) {
	cmd := "k0s kubectl -n longhorn-system get nodes.longhorn.io"
	if f.LHNodesErr != nil {
		return unreadable(f, "Longhorn nodes", f.LHNodesErr, cmd), nil
	}
	if len(f.LHNodes) == 0 {
		return checks.Warnf("no Longhorn nodes", "Longhorn runs on the workers: `"+cmd+"`, `k0s kubectl -n longhorn-system get pods -o wide`."), nil
	}
	worst := checks.OK
	var details, nodes []string
	for _, n := range f.LHNodes {
		var why []string
		st := checks.OK
		for _, c := range n.Status.Conditions {
			if c.Status == "True" {
				continue
			}
			s := checks.Warn
			if slices.Contains(longhornCritical, c.Type) {
				s = checks.Crit
			}
			st = checks.Worst(st, s)
			why = append(why, conditionText(c))
		}
		disks := make([]string, 0, len(n.Status.DiskStatus))
		for d := range n.Status.DiskStatus {
			disks = append(disks, d)
		}
		slices.Sort(disks)
		for _, d := range disks {
			for _, c := range n.Status.DiskStatus[d].Conditions {
				if c.Status != "True" {
					st = checks.Worst(st, checks.Warn)
					why = append(why, "disk "+d+" "+conditionText(c))
				}
			}
		}
		if st != checks.OK {
			nodes = append(nodes, n.Metadata.Name)
			details = append(details, n.Metadata.Name+": "+strings.Join(why, "; "))
		}
		worst = checks.Worst(worst, st)
	}
	if worst == checks.OK {
		return checks.Okf(fmt.Sprintf("%d Longhorn nodes and their disks ready", len(f.LHNodes))), nil
	}
	msg := fmt.Sprintf("%d of %d Longhorn nodes with a failing condition: %s", len(nodes), len(f.LHNodes), strings.Join(nodes, ", "))
	remedy := "`" + cmd + " -o yaml` shows each condition's message; the node prerequisites (iscsid running, an NFSv4 client, an ext4/XFS data path) are the `longhorn-prereqs` node check on each worker."
	if worst == checks.Crit {
		return checks.Critf(msg, remedy, details...), nodes
	}
	return checks.Warnf(msg, remedy, details...), nodes
}

func conditionText(c kube.Condition) string {
	s := c.Type + "=" + c.Status
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return s
}

func pods(f Facts) (checks.Result, []string) {
	cmd := kubectl(f.Layout) + " get pods -A -o wide"
	if f.PodsErr != nil {
		return unreadable(f, "Pods", f.PodsErr, cmd), nil
	}
	worst := checks.OK
	var details, nodes []string
	for _, p := range f.Pods {
		switch p.Status.Phase {
		case "Running", "Succeeded":
			continue
		case "Pending":
			worst = checks.Worst(worst, checks.Warn)
		default:
			worst = checks.Worst(worst, checks.Crit)
		}
		details = append(details, fmt.Sprintf("%s/%s on %s: %s%s", p.Metadata.Namespace, p.Metadata.Name, orNone(p.Spec.NodeName), orNone(p.Status.Phase), since(f.Now, notRunningSince(p))))
		if p.Spec.NodeName != "" {
			nodes = append(nodes, p.Spec.NodeName)
		}
	}
	if worst == checks.OK {
		return checks.Okf(fmt.Sprintf("%d pods Running or Succeeded", len(f.Pods))), nil
	}
	msg := fmt.Sprintf("%d of %d pods not Running/Succeeded", len(details), len(f.Pods))
	remedy := "`" + cmd + "`; for each: `" + kubectl(f.Layout) + " describe pod -n <namespace> <pod>`."
	if worst == checks.Crit {
		return checks.Critf(msg, remedy, details...), nodes
	}
	return checks.Warnf(msg, remedy, details...), nodes
}
