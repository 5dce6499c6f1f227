package supervisor

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/kuma-agent/kuma-agent/checks"
)

// CheckName is the node check that reports the supervised units.
const CheckName = "units"

// remedies: the exact recovery steps per unit kind ({{node}} and {{unit}}
// are filled in). Data, not branches.
var remedies = []struct{ pattern, text string }{
	{"kuma-core*.service", "On {{node}}: `systemctl status {{unit}}` and `journalctl -u {{unit}} -n 200`; Core logs are in /opt/kaspersky/kuma/core/<ID>/log/core. " +
		"When fixed, `systemctl reset-failed {{unit}} && systemctl start {{unit}}`; a Core that runs but left the Raft cluster rejoins with " +
		"`/opt/kaspersky/kuma/kuma core --raft.join <leader FQDN>:7209 --id <ID> --install`."},
	{"k0scontroller.service", "On {{node}}: `systemctl status k0scontroller`, `journalctl -u k0scontroller -n 200`, `k0s status`. " +
		"If it cannot rejoin etcd: on a healthy controller `k0s etcd member-list`, remove the stale entry with `k0s etcd leave --peer-address <{{node}} address>`, " +
		"then on {{node}} `k0s stop && k0s reset` and reboot; on a healthy controller `k0s token create --role controller --expiry 10m > token`, " +
		"copy it to {{node}} and run `k0s install controller --token-file token && k0s start`. Only one controller at a time."},
	{"k0sworker.service", "On {{node}}: `systemctl status k0sworker`, `journalctl -u k0sworker -n 200`, `k0s status`. " +
		"If the worker cannot rejoin: on {{node}} `k0s stop && k0s reset` and reboot; on a controller `k0s token create --role worker --expiry 10m > token`, " +
		"copy it to {{node}} and run `k0s install worker --token-file token && k0s start`; then `k0s kubectl get nodes` on a controller."},
	{"kubelet.service", "On {{node}}: `systemctl status kubelet`, `journalctl -u kubelet -n 200`; the static pods (etcd, kube-apiserver) run only while kubelet does: " +
		"`crictl ps -a | grep -E 'etcd|kube-apiserver'`. Expired certificates are a common cause (`kubeadm certs check-expiration`). " +
		"When fixed, `systemctl reset-failed kubelet && systemctl start kubelet`, then `kubectl get nodes` on another node. Only one Acura node at a time."},
	{"containerd.service", "On {{node}}: `systemctl status containerd`, `journalctl -u containerd -n 200`; kubelet cannot run a pod without it. " +
		"When fixed, `systemctl reset-failed containerd && systemctl start containerd && systemctl restart kubelet`. Only one Acura node at a time."},
	{"nginx.service", "On {{node}}: `nginx -t` names the broken line; `systemctl status nginx`; after the fix `systemctl reset-failed nginx && systemctl start nginx`."},
	{"*", "On {{node}}: `systemctl status {{unit}}` and `journalctl -u {{unit}} -n 200`; when fixed, `systemctl reset-failed {{unit}} && systemctl start {{unit}}`."},
}

// Remedy is the recovery text for unit on node.
func Remedy(node, unit string) string {
	for _, r := range remedies {
		if ok, _ := path.Match(r.pattern, unit); ok {
			return strings.NewReplacer("{{node}}", node, "{{unit}}", unit).Replace(r.text)
		}
	}
	return ""
}

type unitsCheck struct{ s *Supervisor }

// Check is the "units" node check over the supervisor's state.
func (s *Supervisor) Check() checks.Check { return unitsCheck{s} }

func (unitsCheck) Name() string      { return CheckName }
func (unitsCheck) Area() checks.Area { return checks.AreaServices }

func (c unitsCheck) Run(context.Context) checks.Result {
	if err := c.s.WatchError(); err != nil {
		return checks.Result{Status: checks.Unknown, Message: "cannot watch the units: " + err.Error(),
			Remedy: "Check that systemd and D-Bus run (`systemctl is-system-running`, `busctl status`), or set supervisor.enabled: false on a host the agent must not supervise."}
	}
	units := c.s.Units()
	if len(units) == 0 {
		return checks.Okf("no supervised unit is loaded on this node")
	}
	worst := checks.OK
	var details, fixes []string
	bad := 0
	for _, u := range units {
		st := checks.OK
		line := fmt.Sprintf("%s: %s (%s/%s)", u.Unit, u.Condition, u.Active, u.Sub)
		switch {
		case u.GaveUp:
			st = checks.Crit
			line += fmt.Sprintf("; healing gave up after %d attempts", u.Attempts)
		case u.Condition == Failed.String() || u.Condition == StartLimit.String():
			st = checks.Warn
			if u.Group != NoGroup && u.Refusal != "" {
				st = checks.Crit
			}
			if u.Refusal != "" {
				line += "; refused: " + u.Refusal
			} else {
				line += fmt.Sprintf("; being healed (attempt %d)", u.Attempts+1)
			}
		case u.Condition == Unknown.String():
			st = checks.Unknown
			line += "; systemd did not answer: no action until it does"
		case u.Condition == Stopped.String():
			line += "; stopped, left alone (an operator's stop)"
		}
		if st > checks.OK {
			bad++
			fixes = append(fixes, Remedy(c.s.o.Node, u.Unit))
		}
		worst = checks.Worst(worst, st)
		details = append(details, line)
	}
	if rs := c.s.RaftState(); rs == "out" {
		worst = checks.Worst(worst, checks.Warn)
		details = append(details, "KUMA Core runs but is out of its Raft cluster (by the site-confirmed signal); with supervisor.rejoin.enabled the supervisor rejoins it under the cluster lease, after a backup")
		fixes = append(fixes, "See `kuma-agent raft status`; the documented recovery is `kuma-agent raft restore-node` (remove the node, expand.sh, create the Core in the web UI, install with --raft.join).")
	}
	if hung := c.s.HungCore(); hung != "" {
		worst = checks.Worst(worst, checks.Crit)
		details = append(details, fmt.Sprintf("KUMA Core %s is active but its health listener did not answer within its timeout for supervisor.rejoin.hung_readings readings in a row: hung", hung))
		fixes = append(fixes, fmt.Sprintf("On %s: `journalctl -u %s -n 200`, then `systemctl restart %s` (one Core at a time: check `kuma-agent raft status` for the quorum margin first).", c.s.o.Node, hung, hung))
	}
	r := checks.Result{Status: worst, Details: details, Remedy: strings.Join(fixes, " ")}
	switch {
	case worst == checks.OK:
		r.Message = fmt.Sprintf("%d supervised units fine", len(units))
	default:
		r.Message = fmt.Sprintf("%d of %d supervised units need attention", bad, len(units))
	}
	return r
}
