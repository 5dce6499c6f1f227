package agent

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/agent/mesh"
	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/clusterchecks"
	"github.com/kuma-agent/kuma-agent/internal/component"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/corefailover"
	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/kube"
	"github.com/kuma-agent/kuma-agent/internal/kubechecks"
)

// kubeAccess is the Kubernetes API as the kubeconfig on this node allows:
// the file is read again when it changes (k0s rotates admin.conf's
// certificate), so a node that gets one later (or becomes the evaluator)
// needs no restart.
type kubeAccess struct {
	path    string
	timeout time.Duration

	mu     sync.Mutex
	stamp  string
	client *kube.Client
}

// newKubeAccess is nil unless the layout runs on Kubernetes.
func newKubeAccess(cfg config.Kubernetes, c *cluster.Cluster) *kubeAccess {
	if c == nil || !kubechecks.Applies(c.Layout) {
		return nil
	}
	path := cfg.Kubeconfig
	if path == "" {
		path = kube.K0sAdminConf
		if c.Layout == cluster.LayoutAcura {
			path = kube.KubeadmAdminConf
		}
	}
	return &kubeAccess{path: path, timeout: cfg.Timeout}
}

// get is a client for the kubeconfig as it is now.
func (k *kubeAccess) get() (*kube.Client, error) {
	st, err := os.Stat(k.path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	stamp := fmt.Sprint(st.ModTime().UnixNano(), st.Size())
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.client != nil && stamp == k.stamp {
		return k.client, nil
	}
	t, err := kube.LoadKubeconfig(k.path)
	if err != nil {
		return nil, err
	}
	c, err := kube.New(t, kube.WithTimeout(k.timeout))
	if err != nil {
		return nil, err
	}
	k.client, k.stamp = c, stamp
	return c, nil
}

// DeleteNode deletes the Kubernetes Node name through the kubeconfig as it
// is now: the supervisor's NodeDeleter for Acura's dead-member cleanup,
// which removes a dead controller's etcd member and then its Node.
func (k *kubeAccess) DeleteNode(ctx context.Context, name string) error {
	c, err := k.get()
	if err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	return c.DeleteNode(ctx, name)
}

// kubeFindings are the Kubernetes and Longhorn cluster findings (none
// unless the layout runs on Kubernetes and kubernetes.checks is on).
func (a *Agent) kubeFindings(ctx context.Context) []clusterchecks.NamedResult {
	if a.kube == nil || !a.cfg.Kubernetes.Checks {
		return nil
	}
	f := kubechecks.Facts{Layout: a.cluster.Layout, Source: a.kube.path}
	c, err := a.kube.get()
	if err != nil {
		f.Err = err
		return kubechecks.All(f)
	}
	f = kubechecks.Gather(ctx, c, a.cluster.Layout, a.coreSelector(), time.Now())
	f.Source = a.kube.path
	return kubechecks.All(f)
}

func (a *Agent) coreSelector() kubechecks.CoreSelector {
	k := a.cfg.Kubernetes.Core
	return kubechecks.CoreSelector{Namespace: k.Namespace, LabelSelector: k.LabelSelector, NamePrefix: k.NamePrefix}
}

// failoverLoop runs the Core failover every kubernetes.failover.interval,
// on the cluster evaluator only (the holder of the cluster-checks lease):
// one writer in the cluster.
func (a *Agent) failoverLoop(hb *component.Heartbeat) func(ctx context.Context) {
	fo := &corefailover.Failover{Mode: corefailover.Mode(a.cfg.Kubernetes.Failover.Mode), After: a.cfg.Kubernetes.Failover.After,
		Core: a.coreSelector(), Overrides: a.cfg.Checks.Ports.Overrides, Self: a.node.Name,
		Log: a.log.With("component", "core-failover"), Now: time.Now, Holding: a.eval.holding,
		Emit: func(t events.Type, subject string, sev events.Severity, d events.TaintData) {
			a.emit(t, subject, sev, d)
		}}
	return func(ctx context.Context) {
		for hb.Sleep(ctx, a.cfg.Kubernetes.Failover.Interval) {
			sctx, cancel := context.WithTimeout(ctx, a.queryTimeout()+2*a.cfg.Kubernetes.Timeout+time.Second)
			done := make(chan struct{})
			go func() {
				defer close(done)
				a.failoverStep(sctx, fo)
			}()
			hb.Wait(ctx, a.queryTimeout()+2*a.cfg.Kubernetes.Timeout+time.Second+stepGrace, done)
			<-done
			cancel()
			hb.Beat()
		}
	}
}

func (a *Agent) failoverStep(ctx context.Context, fo *corefailover.Failover) {
	// Under the cluster lease only: the evaluator holds it (events on; the
	// config refuses the failover without events).
	if _, evaluating := a.eval.snapshot(); !evaluating || a.eval.coord == nil {
		return
	}
	c, err := a.kube.get()
	if err != nil {
		a.log.Warn("core failover: no Kubernetes API on the evaluator", "err", err)
		return
	}
	fo.API = c
	members, _ := a.clusterMembers()
	bv, _ := clusterchecks.Believed(clusterchecks.View{Inventory: a.cluster, Self: a.node.Name, Members: members})
	r := corefailover.Round{View: bv, Majority: clusterchecks.MajorityCheck(bv).Status == checks.OK,
		Reach: func(ctx context.Context) (map[string][]clusterchecks.Edge, error) {
			resp, err := a.mesh.QueryUntil(ctx, queryReach, nil, nil, a.queryTimeout(), len(bv.Members))
			if err != nil {
				return nil, err
			}
			return a.decodeReach(resp), nil
		}}
	if _, err := fo.Step(ctx, r); err != nil {
		a.log.Warn("core failover pass failed; next pass in kubernetes.failover.interval", "err", err)
	}
}

// decodeReach decodes the reachability answers (each node's failing
// probes); a malformed answer is logged and left out.
func (a *Agent) decodeReach(resp map[string]mesh.Response) map[string][]clusterchecks.Edge {
	out := map[string][]clusterchecks.Edge{}
	for node, r := range resp {
		var rr clusterchecks.ReachReply
		if err := clusterchecks.DecodePayload(r.Payload, &rr); err != nil {
			a.log.Warn("malformed cluster answer", "from", node, "query", queryReach, "err", err)
			continue
		}
		edges, err := rr.Edges()
		if err != nil {
			a.log.Warn("malformed cluster answer", "from", node, "query", queryReach, "err", err)
			continue
		}
		out[node] = edges
	}
	return out
}
