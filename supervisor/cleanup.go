package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
)

// CleanupOptions configure dead-member removal (opt-in, like Consul's
// autopilot): an etcd member is removed only when two independent
// verdicts agree for longer than After: the mesh's (its agent failed) and
// etcd's own (the member unhealthy as this controller's etcd sees it: its
// client URL fails /health and its status, or its peer URL refuses). A
// stopped agent on a healthy controller is the mesh's verdict alone, and
// removes nothing. Right before a removal, etcd is asked again: the member
// still unhealthy, and etcd's quorum (its members' health) holding with
// it gone.
type CleanupOptions struct {
	After    time.Duration
	DryRun   bool
	Interval time.Duration // default 10s
	// Etcd is etcd's own view and its API (required: without etcd's
	// verdict nothing is removed).
	Etcd EtcdMembers
	// UseAPI removes the member through Etcd by its ID; otherwise the
	// Commands run.
	UseAPI bool
	// DeleteNode, when set, deletes the removed member's Kubernetes Node
	// after an API removal (Acura; the commands carry their own step).
	DeleteNode NodeDeleter
	// Commands run in order, argv templates with {{.Name}} and {{.Addr}}
	// of the dead member, {{.Hostname}} (this host's name as `hostname`
	// prints it) and {{.MemberID}}. A step whose arguments hold `member
	// list` (etcdctl's, with -w json) is read by the agent: in the steps
	// after it {{.MemberID}} is the hex ID of the etcd member named
	// {{.Name}}; when no member has that name the remaining steps are
	// skipped (it is gone already). No value is ever put into a shell
	// script (see expand).
	Commands [][]string
	Runner   Runner
	// Hostname fills {{.Hostname}}; "" means os.Hostname().
	Hostname string
	// FailedSince is when the mesh marked node failed; ok false while it
	// is not failed.
	FailedSince func(node string) (time.Time, bool)
	Address     func(node string) string
}

// EtcdMembers is etcd's view of itself and its member removal, through
// this controller's etcd (plan.EtcdAccess in the daemon).
type EtcdMembers interface {
	Survey(ctx context.Context) (etcd.Survey, error)
	RemoveMember(ctx context.Context, id uint64) error
}

// NodeDeleter deletes a Kubernetes Node by name (the Kubernetes reader
// implements it); the cleanup calls it for Acura after removing the
// node's etcd member.
type NodeDeleter interface {
	DeleteNode(ctx context.Context, name string) error
}

// cleanupState is what the cleanup remembers between rounds.
type cleanupState struct {
	handled map[string]bool // removed or proposed
	// etcdBad is when this controller's etcd first reported each member
	// (by name) unhealthy in an unbroken run of readings.
	etcdBad map[string]time.Time
	// waiting remembers the dead members already logged as waiting for
	// etcd's verdict (one line per case, not one per round).
	waiting map[string]string
}

func newCleanupState() *cleanupState {
	return &cleanupState{handled: map[string]bool{}, etcdBad: map[string]time.Time{}, waiting: map[string]string{}}
}

// RunCleanup removes long-dead etcd members until ctx is done. Only the
// first live voter by name acts, so that the others do not repeat the
// removal; the lease covers the moments when two think they are first.
func (s *Supervisor) RunCleanup(ctx context.Context, o CleanupOptions) {
	if o.After <= 0 || o.FailedSince == nil {
		return
	}
	if o.Etcd == nil {
		s.log.Error("dead-member cleanup disabled: it needs etcd's own verdict and this node has no etcd access (checks.etcd)")
		return
	}
	if !o.UseAPI && len(o.Commands) == 0 {
		s.log.Error("dead-member cleanup disabled: method commands with no commands")
		return
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if err := checkSteps(o.Commands); err != nil {
		s.log.Error("dead-member cleanup disabled", "err", err)
		return
	}
	if o.Runner == nil {
		o.Runner = defaultRunner()
	}
	if o.Address == nil {
		o.Address = func(n string) string { return n }
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname() // "" leaves {{.Hostname}} unexpandable: the step fails and says so
	}
	st := newCleanupState()
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.cleanupOnce(ctx, o, st)
	}
}

func (s *Supervisor) cleanupOnce(ctx context.Context, o CleanupOptions, st *cleanupState) {
	voters := s.o.Guard.Groups[GroupEtcd]
	if !slices.Contains(voters, s.o.Node) || s.firstLiveVoter(voters) != s.o.Node {
		return
	}
	now := s.o.Now()
	survey, err := o.Etcd.Survey(ctx)
	if err != nil {
		// No verdict from etcd: nothing is removed, and the runs of
		// unhealthy readings are broken (a later removal needs After of
		// them again).
		clear(st.etcdBad)
		s.waitingOnce(st, "*", "etcd does not answer this controller: no member is removed", "err", err)
		return
	}
	delete(st.waiting, "*")
	seen := map[string]bool{}
	for _, m := range survey.Members {
		seen[m.Name] = true
		if m.Healthy {
			delete(st.etcdBad, m.Name)
		} else if _, ok := st.etcdBad[m.Name]; !ok {
			st.etcdBad[m.Name] = now
		}
	}
	for n := range st.etcdBad {
		if !seen[n] {
			delete(st.etcdBad, n)
		}
	}
	for _, dead := range voters {
		since, isFailed := o.FailedSince(dead)
		if !isFailed {
			delete(st.handled, dead) // it came back: a later failure is a new case
			delete(st.waiting, dead)
		}
		if dead == s.o.Node || st.handled[dead] || !isFailed || now.Sub(since) < o.After {
			continue
		}
		m, isMember := survey.Member(dead)
		if !isMember {
			s.waitingOnce(st, dead, "dead node is no etcd member (by name): nothing to remove", "node", dead)
			continue
		}
		badSince, bad := st.etcdBad[dead]
		if !bad || now.Sub(badSince) < o.After {
			why := "etcd reports the member healthy: its agent alone is down"
			if bad {
				why = "etcd reports the member unhealthy for less than the threshold"
			}
			s.waitingOnce(st, dead, "dead node's etcd member not removed: "+why, "node", dead, "mesh_failed_for", now.Sub(since).Round(time.Second))
			continue
		}
		id := uint64(m.ID)
		j := job{
			action: Action{Node: dead, Unit: "etcd-member/" + dead, Verb: "remove-member", Group: GroupEtcd, Removes: true},
			reason: fmt.Sprintf("%s failed in the mesh for %s and unhealthy per etcd for %s (threshold %s): %s", dead,
				now.Sub(since).Round(time.Second), now.Sub(badSince).Round(time.Second), o.After, m.Err),
			dryRun:  o.DryRun,
			confirm: func(ctx context.Context) (bool, error) { return o.confirmRemoval(ctx, dead, id) },
			do:      func(ctx context.Context) (string, error) { return o.removeMember(ctx, dead, id) },
		}
		switch out := s.coordinate(ctx, j); out.kind {
		case done, proposed:
			st.handled[dead] = true
		case failed:
			st.handled[dead] = true // a person must look: the event says why
		case refused:
			s.refuseOnce(j.action.Unit, j.action.Verb, out.reason)
		}
	}
}

// waitingOnce logs why a dead member is not removed, once per case and
// reason.
func (s *Supervisor) waitingOnce(st *cleanupState, key, msg string, args ...any) {
	if st.waiting[key] == msg {
		return
	}
	st.waiting[key] = msg
	s.log.Info(msg, args...)
}

// confirmRemoval asks etcd again, under the lease, right before the
// removal: the member (same ID) still listed and unhealthy, and etcd's
// quorum holding now and without it.
func (o CleanupOptions) confirmRemoval(ctx context.Context, name string, id uint64) (bool, error) {
	s, err := o.Etcd.Survey(ctx)
	if err != nil {
		return false, err
	}
	m, ok := s.Member(name)
	if !ok || uint64(m.ID) != id {
		return false, nil // gone already, or replaced by a new member of that name
	}
	if m.Healthy {
		return false, refusal{fmt.Sprintf("etcd reports %s healthy again: not removed", name)}
	}
	q := s.Quorum()
	after := cluster.QuorumOf(q.Members-1, q.Healthy)
	if !q.HasQuorum || !after.HasQuorum {
		return false, refusal{fmt.Sprintf("removing %s: etcd has %d of %d members healthy (quorum %d): a member removal needs etcd's quorum, now and after it (%d of %d, quorum %d)",
			name, q.Healthy, q.Members, q.Needed, after.Healthy, after.Members, after.Needed)}
	}
	return true, nil
}

// removeMember removes the member: through etcd's API by its ID (then
// the Node, where a deleter is set), or by the steps.
func (o CleanupOptions) removeMember(ctx context.Context, name string, id uint64) (string, error) {
	if !o.UseAPI {
		return o.remove(ctx, name)
	}
	if err := o.Etcd.RemoveMember(ctx, id); err != nil {
		return "", fmt.Errorf("remove etcd member %s (ID %x): %w", name, id, err)
	}
	result := fmt.Sprintf("etcd member %s (ID %x) removed through etcd's API", name, id)
	if o.DeleteNode != nil {
		if err := o.DeleteNode.DeleteNode(ctx, name); err != nil {
			return result, fmt.Errorf("%s; deleting its Kubernetes Node failed: %w", result, err)
		}
		result += "; Kubernetes Node deleted"
	}
	return result, nil
}

// firstLiveVoter is the live voter that sorts first.
func (s *Supervisor) firstLiveVoter(voters []string) string {
	alive := map[string]bool{}
	for _, p := range s.peers() {
		alive[p.Name] = p.Alive
	}
	for _, v := range slices.Sorted(slices.Values(voters)) {
		if alive[v] {
			return v
		}
	}
	return ""
}

// remove runs the cleanup steps for the dead member name.
func (o CleanupOptions) remove(ctx context.Context, name string) (string, error) {
	vars := map[string]string{"Name": name, "Addr": o.Address(name)}
	if o.Hostname != "" {
		vars["Hostname"] = o.Hostname
	}
	for i, tmpl := range o.Commands {
		argv, err := expand(tmpl, vars)
		if err != nil {
			return "", fmt.Errorf("cleanup step %d: %w", i+1, err)
		}
		out, err := o.Runner.Run(ctx, argv)
		if err != nil {
			return "", fmt.Errorf("cleanup step %d: %w", i+1, err)
		}
		if !listsMembers(tmpl) {
			continue
		}
		id, found, err := etcdMemberID(out, name)
		if err != nil {
			return "", fmt.Errorf("cleanup step %d: %w", i+1, err)
		}
		if !found {
			return fmt.Sprintf("not an etcd member: steps after %d skipped", i+1), nil
		}
		vars["MemberID"] = id
	}
	return "removed", nil
}

// listsMembers tells a step that lists etcd members.
func listsMembers(argv []string) bool {
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == "member" && argv[i+1] == "list" {
			return true
		}
	}
	return false
}

// checkSteps refuses steps using {{.MemberID}} with no member listing
// before them.
func checkSteps(cmds [][]string) error {
	listed := false
	for i, argv := range cmds {
		for _, a := range argv {
			if !listed && strings.Contains(a, ".MemberID") {
				return fmt.Errorf("cleanup step %d uses {{.MemberID}} but no step before it lists the members (`etcdctl member list -w json`)", i+1)
			}
		}
		listed = listed || listsMembers(argv)
	}
	return nil
}

// etcdMemberID finds the member called name in the output of `etcdctl
// member list -w json` and returns its ID in hex, as `etcdctl member
// remove` takes it.
func etcdMemberID(out []byte, name string) (id string, found bool, err error) {
	var list struct {
		Members []struct {
			ID   uint64 `json:"ID"`
			Name string `json:"name"`
		} `json:"members"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return "", false, fmt.Errorf("member list is not etcdctl's JSON (is -w json given?): %w", err)
	}
	if list.Members == nil {
		return "", false, errors.New(`member list has no "members": not etcdctl's JSON`)
	}
	for _, m := range list.Members {
		if m.Name != name || m.ID == 0 {
			continue
		}
		if found {
			return "", false, fmt.Errorf("two etcd members are named %q: remove the right one by hand", name)
		}
		id, found = strconv.FormatUint(m.ID, 16), true
	}
	return id, found, nil
}
