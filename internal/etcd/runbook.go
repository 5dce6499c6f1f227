package etcd

import (
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// Runbook is the layout's own commands an operator runs to see what the
// agent saw, and to look at etcd's process.
type Runbook struct {
	// Members lists the members and their health ({{node}}: the node).
	Members string
	// Service shows etcd's process on the node.
	Service string
	// Defrag compacts and defragments a member's database.
	Defrag string
}

// kubeadmEtcdctl is etcdctl in the node's etcd static pod, with
// kubeadm's health-check client certificate.
const kubeadmEtcdctl = "kubectl exec etcd-{{node}} -n kube-system -- etcdctl --cacert /etc/kubernetes/pki/etcd/ca.crt " +
	"--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key"

// runbooks by layout (kuma-ha.md §1a, §3, §6): k0s runs etcd inside
// k0scontroller and has `k0s etcd member-list`; kubeadm (Acura) runs it as
// a static pod.
var runbooks = map[cluster.Layout]Runbook{
	cluster.LayoutK0s: {
		Members: "`k0s etcd member-list`",
		Service: "`systemctl status k0scontroller` and `journalctl -u k0scontroller | grep etcd`",
		Defrag:  "`k0s etcd` has no defrag: run etcdctl with the k0s PKI (`etcdctl --endpoints https://127.0.0.1:2379 --cacert /var/lib/k0s/pki/etcd/ca.crt --cert /var/lib/k0s/pki/apiserver-etcd-client.crt --key /var/lib/k0s/pki/apiserver-etcd-client.key defrag`)",
	},
	cluster.LayoutAcura: {
		Members: "`" + kubeadmEtcdctl + " endpoint status --cluster -w table`",
		Service: "`crictl ps -a --name etcd` and `crictl logs <etcd container>`",
		Defrag:  "`" + kubeadmEtcdctl + " defrag`",
	},
}

// RunbookFor is the layout's runbook for node (k0s's when the layout has
// no etcd of its own: the other etcd layout KUMA installs).
func RunbookFor(l cluster.Layout, node string) Runbook {
	r, ok := runbooks[l]
	if !ok {
		r = runbooks[cluster.LayoutK0s]
	}
	fill := func(s string) string { return strings.ReplaceAll(s, "{{node}}", node) }
	return Runbook{Members: fill(r.Members), Service: fill(r.Service), Defrag: fill(r.Defrag)}
}

// FilesFor are the layout's client TLS files.
func FilesFor(l cluster.Layout) TLSFiles {
	if l == cluster.LayoutAcura {
		return KubeadmFiles
	}
	return K0sFiles
}
