package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
	"github.com/kuma-agent/kuma-agent/internal/events"
)

// stubKubectl puts a kubectl under dir/bin that logs its arguments, one
// bracketed per argument and a line per call, and answers `member list`
// with members (etcdctl's JSON). It returns the runner whose PATH finds it
// and the calls so far.
func stubKubectl(t *testing.T, dir string, members map[string]uint64) (Runner, func() []string) {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	type member struct {
		ID   uint64 `json:"ID"`
		Name string `json:"name"`
	}
	list := struct {
		Header  map[string]uint64 `json:"header"`
		Members []member          `json:"members"`
	}{Header: map[string]uint64{"cluster_id": 17237436991929493444}}
	for name, id := range members {
		list.Members = append(list.Members, member{id, name})
	}
	b, _ := json.Marshal(list)
	listFile, logFile := filepath.Join(dir, "members.json"), filepath.Join(dir, "kubectl.log")
	if err := os.WriteFile(listFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nprintf '[%s]' \"$@\" >> " + logFile + "\necho >> " + logFile +
		"\ncase \"$*\" in *' member list '*) cat " + listFile + ";; esac\n"
	if err := os.WriteFile(filepath.Join(bin, "kubectl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	calls := func() []string {
		b, _ := os.ReadFile(logFile)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	return ExecRunner{Env: []string{"PATH=" + bin + ":/usr/bin:/bin"}}, calls
}

// A dead member's name reaches the Acura cleanup commands as data: the
// default steps run with names that would be shell code never create the
// file the code names.
func TestCleanupNeverRunsAMemberNameAsShell(t *testing.T) {
	const id = 12345678901234567890 // ab54a98ceb1f0ad2
	for i, evil := range []string{
		"x$(touch PWNED)",
		"x'; touch PWNED; '",
		`x"; touch PWNED; "`,
		"x`touch PWNED`",
	} {
		dir := t.TempDir()
		pwned := filepath.Join(dir, "pwned")
		name := strings.ReplaceAll(evil, "PWNED", pwned)
		run, calls := stubKubectl(t, dir, map[string]uint64{name: id, "ctl-1": 1})
		o := CleanupOptions{Commands: config.DefaultSupervisor().Cleanup.Acura, Runner: run, Hostname: "ctl-1",
			Address: func(n string) string { return n }}
		got, err := o.remove(context.Background(), name)
		if err != nil || got != "removed" {
			t.Fatalf("%d: remove = %q, %v", i, got, err)
		}
		if _, err := os.Stat(pwned); err == nil {
			t.Fatalf("%d: the member name %q ran as shell code", i, name)
		}
		c := calls()
		tls := "[--cacert][/etc/kubernetes/pki/etcd/ca.crt][--cert][/etc/kubernetes/pki/etcd/peer.crt][--key][/etc/kubernetes/pki/etcd/peer.key]"
		want := []string{
			"[delete][node][" + name + "]",
			"[-n][kube-system][exec][etcd-ctl-1][--][etcdctl]" + tls + "[member][list][-w][json]",
			"[-n][kube-system][exec][etcd-ctl-1][--][etcdctl]" + tls + "[member][remove][ab54a98ceb1f0ad2]",
		}
		if strings.Join(c, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%d: kubectl calls\n%s\nwant\n%s", i, strings.Join(c, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestCleanupSkipsRemovalOfANonMember(t *testing.T) {
	run, calls := stubKubectl(t, t.TempDir(), map[string]uint64{"ctl-1": 1, "ctl-2": 2})
	o := CleanupOptions{Commands: config.DefaultSupervisor().Cleanup.Acura, Runner: run, Hostname: "ctl-1",
		Address: func(n string) string { return n }}
	got, err := o.remove(context.Background(), "ctl-3")
	if err != nil || got != "not an etcd member: steps after 2 skipped" {
		t.Fatalf("remove = %q, %v", got, err)
	}
	if c := calls(); len(c) != 2 || strings.Contains(c[1], "remove") {
		t.Fatalf("kubectl calls %q, want delete node and member list only", c)
	}
}

func TestCleanupSteps(t *testing.T) {
	if err := checkSteps(config.DefaultSupervisor().Cleanup.Acura); err != nil {
		t.Errorf("default acura steps: %v", err)
	}
	if err := checkSteps(config.DefaultSupervisor().Cleanup.K0s); err != nil {
		t.Errorf("default k0s steps: %v", err)
	}
	if err := checkSteps([][]string{{"etcdctl", "member", "remove", "{{.MemberID}}"}}); err == nil {
		t.Error("a remove step without a member list before it was accepted")
	}
}

func TestEtcdMemberID(t *testing.T) {
	out := []byte(`{"header":{"cluster_id":1,"member_id":2,"raft_term":3},"members":[` +
		`{"ID":18446744073709551615,"name":"a","peerURLs":["https://10.0.0.1:2380"]},{"ID":255,"name":"b"},{"ID":0,"name":"c"}]}`)
	for _, tc := range []struct {
		name, id string
		found    bool
	}{{"a", "ffffffffffffffff", true}, {"b", "ff", true}, {"c", "", false}, {"d", "", false}} {
		id, found, err := etcdMemberID(out, tc.name)
		if err != nil || id != tc.id || found != tc.found {
			t.Errorf("%s: %q %v %v, want %q %v", tc.name, id, found, err, tc.id, tc.found)
		}
	}
	for _, bad := range []string{"abc, a, https://x", `{"header":{}}`, `{"members":[{"ID":1,"name":"a"},{"ID":2,"name":"a"}]}`} {
		if _, _, err := etcdMemberID([]byte(bad), "a"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// A placeholder inside a shell script is refused before anything runs; as
// an argument after the script it is fine.
func TestTemplateNeverInsideShellScript(t *testing.T) {
	vars := map[string]string{"Name": "x'; touch /tmp/pwned; '"}
	for _, argv := range [][]string{
		{"sh", "-c", "echo {{.Name}}"},
		{"/bin/bash", "-o", "pipefail", "-ec", "echo '{{.Name}}'"},
		{"env", "LANG=C", "sh", "-c", "kubectl delete node {{.Name}}"},
	} {
		if got, err := expand(argv, vars); err == nil {
			t.Errorf("%q expanded to %q", argv, got)
		}
	}
	got, err := expand([]string{"sh", "-c", `echo "$1"`, "sh", "{{.Name}}"}, vars)
	if err != nil || got[4] != vars["Name"] {
		t.Fatalf("value after the script: %q, %v", got, err)
	}
	if got, err := expand([]string{"kubectl", "-c", "{{.Name}}"}, vars); err != nil || got[2] != vars["Name"] {
		t.Fatalf("not a shell: %q, %v", got, err)
	}
}

// fakeEtcd is etcd's view as a test sets it; removals are recorded.
type fakeEtcd struct {
	mu      sync.Mutex
	members []etcd.MemberView
	err     error
	removed []uint64
}

func fakeMember(id uint64, name string, healthy bool) etcd.MemberView {
	m := etcd.MemberView{Member: etcd.Member{ID: etcd.U64(id), Name: name}, Healthy: healthy, Self: id == 1}
	if !healthy {
		m.Err = "connection refused"
	}
	return m
}

func (f *fakeEtcd) Survey(context.Context) (etcd.Survey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return etcd.Survey{Members: slices.Clone(f.members), Leader: 1, Self: 1}, f.err
}

func (f *fakeEtcd) RemoveMember(_ context.Context, id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	return nil
}

type recordDeleter struct{ deleted []string }

func (r *recordDeleter) DeleteNode(_ context.Context, name string) error {
	r.deleted = append(r.deleted, name)
	return nil
}

// cleanupCase is c1's supervisor in a 3-controller cluster (peers c1 and
// c2 healthy, c3's agent failed in the mesh failedFor before the test's
// clock) with the API method's cleanup options, and the rounds' state.
type cleanupCase struct {
	h   *harness
	o   CleanupOptions
	st  *cleanupState
	now time.Time
}

func newCleanupCase(t *testing.T, et EtcdMembers, failedFor time.Duration) *cleanupCase {
	t.Helper()
	c := &cleanupCase{now: time.Now(), st: newCleanupState()}
	peers := []Peer{{Name: "c1", Alive: true, Healthy: true}, {Name: "c2", Alive: true, Healthy: true}, {Name: "c3"}}
	c.h = start(t, newFakeBackend(), func(o *Options) {
		o.Node = "c1"
		o.Guard = Guard{Hosts: []string{"c1", "c2", "c3"}, Groups: map[Group][]string{GroupEtcd: {"c1", "c2", "c3"}}}
		o.Peers = func() []Peer { return peers }
		o.Locker = &fakeLocker{node: "c1"}
		o.Now = func() time.Time { return c.now }
	})
	c.o = CleanupOptions{After: 30 * time.Minute, Etcd: et, UseAPI: true,
		FailedSince: func(n string) (time.Time, bool) { return c.now.Add(-failedFor), n == "c3" }}
	return c
}

// rounds runs n cleanup rounds, the clock moving by step after each.
func (c *cleanupCase) rounds(ctx context.Context, n int, step time.Duration) {
	for range n {
		c.h.sup.cleanupOnce(ctx, c.o, c.st)
		c.now = c.now.Add(step)
	}
}

// The case: an agent stopped (failed in the mesh) on a controller
// whose etcd member is healthy is never removed, however long.
func TestCleanupNeverRemovesAHealthyMemberWhoseAgentIsDown(t *testing.T) {
	et := &fakeEtcd{members: []etcd.MemberView{fakeMember(1, "c1", true), fakeMember(2, "c2", true), fakeMember(3, "c3", true)}}
	c := newCleanupCase(t, et, 24*time.Hour)
	run := &recordRunner{}
	c.o.UseAPI, c.o.Runner, c.o.Commands = false, run, config.DefaultSupervisor().Cleanup.K0s
	c.rounds(context.Background(), 5, time.Hour)
	if len(et.removed) != 0 || run.count() != 0 || c.h.ev.count(events.HealingProposed)+c.h.ev.count(events.HealingStarted)+c.h.ev.count(events.HealingRefused) != 0 {
		t.Fatalf("removed %v, ran %v", et.removed, run.runs)
	}
	// etcd not answering is no verdict either.
	et.err = errors.New("connection refused")
	c.rounds(context.Background(), 1, 0)
	if len(et.removed) != 0 {
		t.Fatal("removed without etcd's answer")
	}
}

// With the API method, the member goes by its ID and the Node deleter
// (Acura) runs after it.
func TestCleanupRemovesByIDAndDeletesTheNode(t *testing.T) {
	const id = 18446744073709551615
	et := &fakeEtcd{members: []etcd.MemberView{fakeMember(1, "c1", true), fakeMember(2, "c2", true), fakeMember(id, "c3", false)}}
	c := newCleanupCase(t, et, 24*time.Hour)
	del := &recordDeleter{}
	c.o.DeleteNode = del
	c.rounds(context.Background(), 2, 31*time.Minute)
	if !slices.Equal(et.removed, []uint64{id}) || !slices.Equal(del.deleted, []string{"c3"}) {
		t.Fatalf("removed %v, deleted nodes %v", et.removed, del.deleted)
	}
	d, ok := c.h.ev.last(events.HealingFinished)
	if !ok || !strings.Contains(d.Result, "ID ffffffffffffffff) removed through etcd's API; Kubernetes Node deleted") {
		t.Fatalf("finished event %+v", d)
	}
}

// etcd's own quorum is asked right before: with c2's etcd down as well
// (its agent still reporting its units fine), no removal.
func TestCleanupRefusesARemovalWithoutEtcdQuorum(t *testing.T) {
	et := &fakeEtcd{members: []etcd.MemberView{fakeMember(1, "c1", true), fakeMember(2, "c2", false), fakeMember(3, "c3", false)}}
	c := newCleanupCase(t, et, 24*time.Hour)
	c.rounds(context.Background(), 2, 31*time.Minute)
	if len(et.removed) != 0 {
		t.Fatalf("removed %v without etcd's quorum", et.removed)
	}
	d, ok := c.h.ev.last(events.HealingRefused)
	if !ok || !strings.Contains(d.Reason, "etcd has 1 of 3 members healthy") {
		t.Fatalf("refusal %+v", d)
	}
}
