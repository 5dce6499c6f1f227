package packages

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab"
	"github.com/kuma-agent/kuma-agent/internal/testlab/nspawnlab"
)

// ansibleTools are what TestAnsibleDeploy runs on this machine, the
// control node: Debian's ansible-core and the OpenSSH client it drives.
var ansibleTools = []string{"ansible-playbook", "ssh", "ssh-keygen"}

// ansibleRunTimeout bounds one ansible-playbook run (the machine is loaded:
// the closing check alone may wait minutes for a settled cluster).
const ansibleRunTimeout = 15 * time.Minute

// deployInventory is a KUMA distributed inventory (one Core, a collector,
// a correlator) naming the hosts of ns whose index is in keep, as the
// KUMA installer would have it, plus what Ansible needs to reach the test's
// hosts (ansible_host) and the one host variable the deployment reads:
// host 2 gets the .rpm although it is a Debian host.
func deployInventory(ns []node, keep ...int) string {
	groups := []string{"kuma_core", "kuma_collector", "kuma_correlator"}
	var b strings.Builder
	b.WriteString("# KUMA distributed install (written by the e2e test TestAnsibleDeploy)\n" +
		"all:\n  vars:\n    ansible_connection: ssh\n    ansible_user: root\n    deploy_to_k8s: false\n    need_transfer: false\n    generate_etc_hosts: false\n" +
		"kuma:\n  children:\n")
	for _, i := range keep {
		fmt.Fprintf(&b, "    %s:\n      hosts:\n        %s:\n          ip: %s\n          ansible_host: %s\n", groups[i], coreName(i+1), ns[i].Addr(), ns[i].Addr())
		if i == 0 {
			fmt.Fprintf(&b, "          raft_node_addr: \"%s:7209\"\n", coreName(1))
		}
		if i == 1 {
			b.WriteString("          kuma_agent_package_format: rpm\n")
		}
	}
	return b.String()
}

// recapRE is one host's line of the PLAY RECAP.
var recapRE = regexp.MustCompile(`(?m)^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// recap is the changed count per host of an ansible-playbook run's output.
func recap(out string) map[string]int {
	m := map[string]int{}
	for _, f := range recapRE.FindAllStringSubmatch(out, -1) {
		m[f[1]], _ = strconv.Atoi(f[3])
	}
	return m
}

// controlNode runs ansible-playbook from this machine inside host 1's
// network namespace (the lab's switch is reachable from there; the
// container of host 1 shares it and answers SSH on its own address).
type controlNode struct {
	t        *testing.T
	lab      *nspawnlab.Lab
	dir      string // inventory, key, secrets (kuma-agent-secrets), ansible's own state
	playbook string
	extra    []string // -e arguments of every run
}

// run runs the playbook with inventory and the extra arguments; it returns
// the output and fails the test when the play fails.
func (c controlNode) run(what, inventory string, args ...string) string {
	c.t.Helper()
	inv := filepath.Join(c.dir, "distributed.inventory.yml")
	if err := os.WriteFile(inv, []byte(inventory), 0o600); err != nil {
		c.t.Fatal(err)
	}
	argv := append([]string{"-i", inv, c.playbook}, c.extra...)
	argv = append(argv, args...)
	cmd := c.lab.Net().Exec(1, "ansible-playbook", argv...)
	cmd.Dir = c.dir
	// No ssh master left behind (ControlMaster=no), no host key prompts
	// (fresh containers), nothing read from or written to ~/.ansible.
	cmd.Env = append(os.Environ(),
		"ANSIBLE_CONFIG="+filepath.Join(c.dir, "ansible.cfg"),
		"ANSIBLE_HOME="+filepath.Join(c.dir, "ansible-home"),
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(c.dir, "ansible-home", "tmp"),
		"ANSIBLE_PRIVATE_KEY_FILE="+filepath.Join(c.dir, "id_ed25519"),
		"ANSIBLE_HOST_KEY_CHECKING=False",
		"ANSIBLE_SSH_ARGS=-o ControlMaster=no -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR",
		"ANSIBLE_PIPELINING=True",
		"ANSIBLE_TIMEOUT=60",
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_RETRY_FILES_ENABLED=False",
	)
	// Its own process group, killed whole when the run times out (ssh
	// children included) or the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	timer := time.AfterFunc(ansibleRunTimeout, func() {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	c.t.Logf("%s: ansible-playbook %s (%v, %v):\n%s", what, strings.Join(args, " "), time.Since(start).Round(time.Second), err, tailLines(string(out), 60))
	if err != nil {
		c.t.Fatalf("%s: ansible-playbook failed: %v", what, err)
	}
	return string(out)
}

// tailLines is the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// TestAnsibleDeploy deploys the packages with packaging/ansible/deploy.yml
// from a KUMA distributed inventory, run by Debian's ansible-playbook over
// SSH against three nspawn hosts (two .deb, one .rpm on a Debian host):
//
//	a. from nothing: the cluster is up (3 alive, doctor --cluster without
//	   a critical finding), secrets root-only 0600 on the nodes, 0700/0600
//	   on the control node
//	b. a second run changes nothing (changed=0 on every host)
//	c. kuma_agent_rotate_key=true: every node's keyring holds only the new
//	   key, the control node's copy too; the run after it changes nothing
//	d. the correlator removed from the inventory: it leaves (left or absent
//	   in the others' members), its agent stopped, its package and secrets
//	   gone
//
//	sudo make e2e   # or: KUMA_E2E=1 go test -count=1 -run TestAnsibleDeploy -v ./test/e2e/packages/
func TestAnsibleDeploy(t *testing.T) {
	requireE2E(t)
	testlab.NeedTools(t, ansibleTools...)
	p := packages(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	lab := nspawnlab.New(t, 3, nspawnlab.Options{BindRO: map[string]string{p.dir: optDir}})
	hs := nodes(t, lab)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, h := range hs {
			out, _ := h.try("journalctl -b --no-pager -o short-precise -u kuma-agent -u ssh | grep -v component=nats-server | tail -n 80")
			t.Logf("==== journal of %s:\n%s", h.Name(), out)
		}
	})

	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kuma-e2e", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	// An empty ansible.cfg: nothing from this machine's /etc/ansible.
	if err := os.WriteFile(filepath.Join(dir, "ansible.cfg"), []byte("[defaults]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte(editedConfig(p.FakeCore)), 0o600); err != nil {
		t.Fatal(err)
	}

	// What the KUMA installer leaves on its hosts: names, /etc/hosts, the
	// Core unit (the fake Core on host 1); and sshd with the test's key.
	var hosts strings.Builder
	for i, h := range hs {
		fmt.Fprintf(&hosts, "%s\t%s %s\n", h.Addr(), coreName(i+1), strings.SplitN(coreName(i+1), ".", 2)[0])
	}
	for i, h := range hs {
		name := coreName(i + 1)
		h.sh(fmt.Sprintf("hostname %s && echo %s > /etc/hostname && printf '%%s' '%s' >> /etc/hosts", name, name, hosts.String()))
		h.write("/root/.ssh/authorized_keys", string(pub), 0o600)
		h.sh("chmod 700 /root/.ssh && systemctl start ssh")
		if i == 0 {
			h.write("/etc/systemd/system/"+coreUnit(1), coreUnitFile(p.FakeCore, 1), 0o644)
			h.sh("systemctl daemon-reload && systemctl enable --now " + coreUnit(1))
		}
	}

	c := controlNode{t: t, lab: lab, dir: dir, playbook: filepath.Join(root, "packaging", "ansible", "deploy.yml"),
		extra: []string{"-e", "kuma_agent_package_dir=" + filepath.Join(p.dir, "cur", "dist"), "-e", "kuma_agent_config_src=" + cfg}}
	secrets := filepath.Join(dir, "kuma-agent-secrets")
	all := deployInventory(hs, 0, 1, 2)

	// a. From nothing.
	out := c.run("a. first run", all)
	for host, n := range recap(out) {
		if host != "localhost" && n == 0 {
			t.Errorf("a. first run: %s changed nothing", host)
		}
	}
	for i, h := range hs {
		h.waitActive("kuma-agent.service", 60*time.Second)
		if st := h.sh("stat -c '%a %U:%G' /etc/kuma-agent/gossip.keyring /etc/kuma-agent/nats-route.password"); st != "600 root:root\n600 root:root" {
			t.Errorf("a. %s: secret files %q, want 600 root:root", h.Name(), st)
		}
		want := "dpkg"
		if i == 1 {
			want = "rpm"
		}
		if _, err := h.try(map[string]string{"dpkg": "dpkg-query -W -f '${Status}' kuma-agent | grep -q 'install ok installed'", "rpm": "rpm -q kuma-agent"}[want]); err != nil {
			t.Errorf("a. %s: kuma-agent not installed by %s", h.Name(), want)
		}
	}
	for path, mode := range map[string]os.FileMode{secrets: 0o700, filepath.Join(secrets, "gossip.keyring"): 0o600, filepath.Join(secrets, "nats-route.password"): 0o600, filepath.Join(secrets, "deployed.json"): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("a. control node: %s: %v %v, want mode %04o", path, fi.Mode().Perm(), err, mode)
		}
	}
	ms, err := hs[1].members()
	if err != nil {
		t.Fatal(err)
	}
	for i := range hs {
		if ms[coreName(i+1)].Status != "alive" {
			t.Errorf("a. %s lists %s as %q, want alive", hs[1].Name(), coreName(i+1), ms[coreName(i+1)].Status)
		}
	}
	rep, code := hs[0].doctorCluster()
	for _, f := range rep.Findings {
		if f.Status.String() == "crit" {
			t.Errorf("a. doctor --cluster (exit %d): critical %s on %s: %s", code, f.Check, f.Host, f.Message)
		}
	}
	if keyring := hs[2].read("/etc/kuma-agent/gossip.keyring"); keyring != mustRead(t, filepath.Join(secrets, "gossip.keyring")) {
		t.Errorf("a. %s's keyring differs from the control node's", hs[2].Name())
	}

	// b. Again: nothing changes.
	unchanged := func(step, out string) {
		t.Helper()
		r := recap(out)
		if len(r) == 0 {
			t.Errorf("%s: no PLAY RECAP in the output", step)
		}
		for host, n := range r {
			if n != 0 {
				t.Errorf("%s: %s changed=%d, want 0", step, host, n)
			}
		}
	}
	unchanged("b. second run", c.run("b. second run", all))

	// c. Key rotation.
	oldRing := mustRead(t, filepath.Join(secrets, "gossip.keyring"))
	c.run("c. rotation", all, "-e", "kuma_agent_rotate_key=true")
	newRing := mustRead(t, filepath.Join(secrets, "gossip.keyring"))
	var keys []string
	if err := json.Unmarshal([]byte(newRing), &keys); err != nil || len(keys) != 1 || newRing == oldRing {
		t.Errorf("c. control node's keyring after rotation: %q (%v), before %q", newRing, err, oldRing)
	}
	for _, h := range hs {
		if got := h.read("/etc/kuma-agent/gossip.keyring"); got != newRing {
			t.Errorf("c. %s's keyring after rotation %q, want the control node's %q", h.Name(), got, newRing)
		}
	}
	unchanged("c. run after the rotation", c.run("c. run after the rotation", all))

	// d. The correlator (host 3) is removed from the inventory.
	c.run("d. host 3 removed", deployInventory(hs, 0, 1))
	h3 := hs[2]
	for _, h := range hs[:2] {
		ms, err := h.members()
		if err != nil {
			t.Fatal(err)
		}
		if m, ok := ms[coreName(3)]; ok && m.Status != "left" {
			t.Errorf("d. %s lists the removed %s as %q, want left or absent", h.Name(), coreName(3), m.Status)
		}
	}
	if h3.agentRunning() {
		t.Errorf("d. the agent still runs on the removed %s", h3.Name())
	}
	if st, _ := h3.try("dpkg-query -W -f '${Status}' kuma-agent"); strings.Contains(st, "install ok installed") {
		t.Errorf("d. the package is still installed on the removed %s: %s", h3.Name(), st)
	}
	if out, err := h3.try("ls /etc/kuma-agent/gossip.keyring /etc/kuma-agent/nats-route.password 2>&1"); err == nil {
		t.Errorf("d. the cluster's secrets are still on the removed %s: %s", h3.Name(), out)
	}
	var rec struct {
		Hosts map[string]any `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(secrets, "deployed.json"))), &rec); err != nil || len(rec.Hosts) != 2 || rec.Hosts[coreName(3)] != nil {
		t.Errorf("d. deployed.json after the removal: %v %v, want hosts 1 and 2", rec.Hosts, err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
