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
)

// CleanupOptions configure dead-member removal (opt-in, like Consul's
// autopilot): an etcd voter failed in the mesh for longer than After is
// removed from etcd, only if the rest keeps quorum.
type CleanupOptions struct {
	After    time.Duration
	DryRun   bool
	Interval time.Duration // default 10s
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

// RunCleanup removes long-dead etcd members until ctx is done. Only the
// first live voter by name acts, so that the others do not repeat the
// removal; the lease covers the moments when two think they are first.
func (s *Supervisor) RunCleanup(ctx context.Context, o CleanupOptions) {
	if o.After <= 0 || len(o.Commands) == 0 || o.FailedSince == nil {
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
	handled := map[string]bool{} // removed or proposed
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.cleanupOnce(ctx, o, handled)
	}
}

func (s *Supervisor) cleanupOnce(ctx context.Context, o CleanupOptions, handled map[string]bool) {
	voters := s.o.Guard.Groups[GroupEtcd]
	if !slices.Contains(voters, s.o.Node) || s.firstLiveVoter(voters) != s.o.Node {
		return
	}
	now := s.o.Now()
	for _, dead := range voters {
		since, isFailed := o.FailedSince(dead)
		if dead == s.o.Node || handled[dead] || !isFailed || now.Sub(since) < o.After {
			if !isFailed {
				delete(handled, dead) // it came back: a later failure is a new case
			}
			continue
		}
		j := job{
			action:  Action{Node: dead, Unit: "etcd-member/" + dead, Verb: "remove-member", Group: GroupEtcd, Removes: true},
			reason:  fmt.Sprintf("%s failed in the mesh for %s (threshold %s)", dead, now.Sub(since).Round(time.Second), o.After),
			dryRun:  o.DryRun,
			confirm: func(context.Context) (bool, error) { _, still := o.FailedSince(dead); return still, nil },
			do:      func(ctx context.Context) (string, error) { return o.remove(ctx, dead) },
		}
		switch out := s.coordinate(ctx, j); out.kind {
		case done, proposed:
			handled[dead] = true
		case failed:
			handled[dead] = true // a person must look: the event says why
		case refused:
			s.refuseOnce(j.action.Unit, j.action.Verb, out.reason)
		}
	}
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
