package supervisor

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/config"
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
