package supervisor

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// CleanupOptions configure dead-member removal (opt-in, like Consul's
// autopilot): an etcd voter failed in the mesh for longer than After is
// removed from etcd, only if the rest keeps quorum.
type CleanupOptions struct {
	After    time.Duration
	DryRun   bool
	Interval time.Duration // default 10s
	// Commands run in order, templates with {{.Name}} and {{.Addr}}.
	Commands [][]string
	Runner   Runner
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
	if o.Runner == nil {
		o.Runner = ExecRunner{}
	}
	if o.Address == nil {
		o.Address = func(n string) string { return n }
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
		vars := struct{ Name, Addr string }{dead, o.Address(dead)}
		j := job{
			action:  Action{Node: dead, Unit: "etcd-member/" + dead, Verb: "remove-member", Group: GroupEtcd, Removes: true},
			reason:  fmt.Sprintf("%s failed in the mesh for %s (threshold %s)", dead, now.Sub(since).Round(time.Second), o.After),
			dryRun:  o.DryRun,
			confirm: func(context.Context) (bool, error) { _, still := o.FailedSince(dead); return still, nil },
			do: func(ctx context.Context) (string, error) {
				for _, tmpl := range o.Commands {
					argv, err := expand(tmpl, vars)
					if err != nil {
						return "", err
					}
					if _, err := o.Runner.Run(ctx, argv); err != nil {
						return "", err
					}
				}
				return "removed", nil
			},
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
