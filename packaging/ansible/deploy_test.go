// Package ansible holds the tests of the Ansible deployment in this
// directory (deploy.yml and the kuma_agent role): the project's rules for
// its YAML, checked without Ansible, and Ansible's own syntax check and
// inventory reading against the KUMA inventories the agent's parser is
// tested with. The deployment itself runs in the e2e test TestAnsibleDeploy
// (test/e2e/packages). The package has no code outside its tests.
package ansible

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/inventory"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// playbookFiles are the deployment's YAML files, found by walking the
// directory (a new task file is linted without being listed here).
func playbookFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("found only %v: the walk is broken", files)
	}
	return files
}

func TestPlaybookLint(t *testing.T) {
	for _, f := range playbookFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range lintFile(f, data) {
			t.Error(p)
		}
	}
}

// TestLintCatches shows each rule fires on what it forbids: a lint that
// passes everything would make TestPlaybookLint worthless.
func TestLintCatches(t *testing.T) {
	cases := []struct {
		name, file, yaml, want string
	}{
		{"tab", "tasks/x.yml", "- name: a\n\tansible.builtin.debug: {}\n", "tab"},
		{"trailing space", "tasks/x.yml", "- name: a \n  ansible.builtin.debug: {}\n", "trailing whitespace"},
		{"duplicate key", "tasks/x.yml", "- name: a\n  name: b\n  ansible.builtin.debug: {}\n", "given twice"},
		{"no name", "tasks/x.yml", "- ansible.builtin.debug: {}\n", "no name"},
		{"short module name", "tasks/x.yml", "- name: a\n  copy: {src: a, dest: b}\n", "not ansible.builtin"},
		{"shell", "tasks/x.yml", "- name: a\n  ansible.builtin.shell: echo {{ x }}\n", "shell"},
		{"raw", "tasks/x.yml", "- name: a\n  ansible.builtin.raw: echo\n", "shell"},
		{"command string", "tasks/x.yml", "- name: a\n  ansible.builtin.command: kuma-agent leave\n  changed_when: false\n", "argv"},
		{"command cmd", "tasks/x.yml", "- name: a\n  ansible.builtin.command:\n    cmd: kuma-agent leave\n  changed_when: false\n", "argv"},
		{"command changes always", "tasks/x.yml", "- name: a\n  ansible.builtin.command:\n    argv: [true]\n", "changed_when"},
		{"secret mode", "tasks/x.yml", "- name: a\n  ansible.builtin.copy:\n    src: s/gossip.keyring\n    dest: /etc/kuma-agent/gossip.keyring\n    mode: \"0644\"\n  diff: false\n", "0600"},
		{"secret logged", "tasks/x.yml", "- name: a\n  ansible.builtin.copy:\n    src: s/nats-route.password\n    dest: /x\n    mode: \"0600\"\n", "diff: false"},
		{"octal mode", "tasks/x.yml", "- name: a\n  ansible.builtin.file:\n    path: /x\n    mode: 0700\n", "quoted"},
		{"play without name", "deploy.yml", "- hosts: all\n  tasks: []\n", "no name"},
		{"nested block task", "tasks/x.yml", "- name: a\n  block:\n    - ansible.builtin.debug: {}\n", "no name"},
		{"not yaml", "tasks/x.yml", "- name: [\n", "yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := lintFile(c.file, []byte(c.yaml))
			if !slices.ContainsFunc(ps, func(p string) bool { return strings.Contains(strings.ToLower(p), strings.ToLower(c.want)) }) {
				t.Errorf("lint of %q: %q, want a problem naming %q", c.yaml, ps, c.want)
			}
		})
	}
	good := "- name: a\n  ansible.builtin.command:\n    argv: [kuma-agent, version]\n  changed_when: false\n"
	if ps := lintFile("tasks/x.yml", []byte(good)); len(ps) != 0 {
		t.Errorf("a good task: %q", ps)
	}
}

// TestSyntaxCheck runs ansible-playbook --syntax-check with the KUMA
// inventories the agent's parser is tested with (internal/inventory's
// testdata), all at once: one Ansible start costs seconds on a loaded
// machine, and each file is read on its own by TestInventoryHostsAgree.
func TestSyntaxCheck(t *testing.T) {
	testlab.NeedTools(t, "ansible-playbook")
	args := []string{"--syntax-check"}
	for _, inv := range kumaInventories(t) {
		args = append(args, "-i", inv)
	}
	if out, err := ansible(t, "ansible-playbook", append(args, "deploy.yml")...); err != nil {
		t.Errorf("ansible-playbook %v: %v\n%s", args, err, out)
	}
	// And it does fail: a task with a module that does not exist.
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "deploy.yml"), []byte("- name: x\n  hosts: all\n  tasks:\n    - ansible.builtin.nonexistent_module: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ansible(t, "ansible-playbook", "--syntax-check", "-i", kumaInventories(t)[0], filepath.Join(bad, "deploy.yml")); err == nil {
		t.Error("--syntax-check passed a playbook with an unknown module")
	}
}

// TestInventoryHostsAgree: the hosts Ansible reads from each inventory (the
// play's targets: group all) are the hosts the agent reads from the same
// file (internal/inventory), so the deployment installs an agent on every
// node the agents expect, and on nothing else.
func TestInventoryHostsAgree(t *testing.T) {
	testlab.NeedTools(t, "ansible-inventory")
	for _, inv := range kumaInventories(t) {
		args := []string{"-i", inv}
		if _, err := os.Stat(inv + ".kuma-agent"); err == nil {
			// The agent's supplement to an Acura ha_env_file is a second inventory source
			// (the LB), as README's Acura section deploys it.
			args = append(args, "-i", inv+".kuma-agent")
		}
		out, err := ansible(t, "ansible-inventory", append(args, "--list")...)
		if err != nil {
			t.Errorf("ansible-inventory -i %s: %v\n%s", inv, err, out)
			continue
		}
		var list struct {
			Meta struct {
				Hostvars map[string]json.RawMessage `json:"hostvars"`
			} `json:"_meta"`
		}
		if err := json.Unmarshal(out, &list); err != nil {
			t.Errorf("ansible-inventory -i %s: %v", inv, err)
			continue
		}
		var got []string
		for h := range list.Meta.Hostvars {
			got = append(got, h)
		}
		c, err := inventory.Load(inv)
		if err != nil {
			t.Errorf("%s: %v", inv, err)
			continue
		}
		var want []string
		for _, h := range c.Hosts {
			want = append(want, h.Name)
		}
		slices.Sort(got)
		slices.Sort(want)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: Ansible's hosts %v, the agent's %v", inv, got, want)
		}
	}
}

// kumaInventories are the valid KUMA inventories of internal/inventory's
// testdata: the installer's four kinds and an Acura ha_env_file.
func kumaInventories(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join("..", "..", "internal", "inventory", "testdata", "inventories")
	var out []string
	for _, name := range []string{"k0s-prod-3cp-3w.inventory.yml", "k0s-aio-1lb-1cp-2w.inventory.yml",
		"distributed-raft-3core.inventory.yml", "expand-raft-2peers.inventory.yml", "single.inventory.yml", "acura-ha_env_file"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// ansible runs an Ansible tool with nothing from this machine's or the
// user's Ansible configuration, its state in a temporary directory.
func ansible(t *testing.T, tool string, args ...string) ([]byte, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(tool, args...)
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(home, "none.cfg"), "ANSIBLE_HOME="+home,
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(home, "tmp"), "ANSIBLE_NOCOLOR=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), fmt.Errorf("%s: %w", tool, err)
	}
	return out, nil
}
