package ansible

import (
	"fmt"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// The project's rules for its Ansible YAML, the part ansible-lint would
// check that matters here (no community tools are available offline):
//
//   - plain text: no tabs, no trailing whitespace, valid YAML, no key given
//     twice (YAML keeps one silently);
//   - every play and task has a name, every module is ansible.builtin.* (only
//     builtin modules exist on a site without collections);
//   - values never reach a shell: no shell, raw, script or expect module, and
//     command only with argv (a list, never a string or cmd:);
//   - idempotence: a command says when it changed something (changed_when,
//     creates or removes), so a re-run can report changed=0;
//   - modes are quoted strings ("0600"; YAML reads 0600 as the number 384);
//   - the cluster's secrets (gossip.keyring, nats-route.password) are copied
//     with mode "0600" and diff: false (--diff would print them otherwise).

// taskKeywords are the task keys that are not the module.
var taskKeywords = map[string]bool{
	"name": true, "when": true, "loop": true, "loop_control": true, "register": true, "changed_when": true,
	"failed_when": true, "until": true, "retries": true, "delay": true, "notify": true, "no_log": true,
	"vars": true, "become": true, "become_user": true, "delegate_to": true, "run_once": true, "throttle": true,
	"ignore_errors": true, "ignore_unreachable": true, "tags": true, "environment": true, "args": true,
	"listen": true, "block": true, "rescue": true, "always": true, "check_mode": true, "diff": true,
	"delegate_facts": true, "any_errors_fatal": true,
}

// shellModules run their input through a shell (or are a shell).
var shellModules = map[string]bool{"shell": true, "raw": true, "script": true, "expect": true}

// secretNames are the files that hold the cluster's secrets.
var secretNames = []string{"gossip.keyring", "nats-route.password"}

// lintFile returns the problems of one file, each naming file and line.
func lintFile(name string, data []byte) []string {
	var ps []string
	add := func(line int, format string, args ...any) {
		ps = append(ps, fmt.Sprintf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "\t") {
			add(i+1, "a tab (YAML indents with spaces)")
		}
		if strings.TrimRight(l, " ") != l {
			add(i+1, "trailing whitespace")
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		add(0, "not YAML: %v", err)
		return ps
	}
	if len(doc.Content) == 0 {
		return ps
	}
	root := doc.Content[0]
	dupKeys(root, add)
	switch dir := filepath.Base(filepath.Dir(name)); {
	case filepath.Base(name) == "deploy.yml":
		for _, play := range seq(root) {
			if value(play, "name") == nil {
				add(play.Line, "a play with no name")
			}
			for _, k := range []string{"pre_tasks", "tasks", "post_tasks", "handlers"} {
				lintTasks(seq(value(play, k)), add)
			}
		}
	case dir == "tasks" || dir == "handlers":
		lintTasks(seq(root), add)
	}
	return ps
}

type addFunc func(line int, format string, args ...any)

func lintTasks(tasks []*yaml.Node, add addFunc) {
	for _, task := range tasks {
		if task.Kind != yaml.MappingNode {
			add(task.Line, "a task that is not a mapping")
			continue
		}
		if value(task, "name") == nil {
			add(task.Line, "a task with no name")
		}
		for _, k := range []string{"block", "rescue", "always"} {
			lintTasks(seq(value(task, k)), add)
		}
		module, args := moduleOf(task)
		if module == "" {
			continue
		}
		short, ok := strings.CutPrefix(module, "ansible.builtin.")
		if !ok {
			add(task.Line, "module %s is not ansible.builtin.* (write the full name; only builtin modules are available)", module)
		}
		if shellModules[short] {
			add(task.Line, "module %s runs a shell: use ansible.builtin.command with argv", module)
		}
		if short == "command" {
			if args.Kind != yaml.MappingNode || value(args, "argv") == nil || value(args, "cmd") != nil {
				add(task.Line, "ansible.builtin.command without argv: a string command is split by Ansible, give argv: [...]")
			}
			if value(task, "changed_when") == nil && (args.Kind != yaml.MappingNode || (value(args, "creates") == nil && value(args, "removes") == nil)) {
				add(task.Line, "ansible.builtin.command without changed_when, creates or removes: every run would report a change")
			}
		}
		if args.Kind == yaml.MappingNode {
			if m := value(args, "mode"); m != nil && (m.Tag != "!!str" || !strings.HasPrefix(m.Value, "0")) {
				add(m.Line, "mode %s: give it quoted, with its leading 0 (\"0600\")", m.Value)
			}
			secret := false
			for _, s := range secretNames {
				if strings.Contains(text(args), s) || strings.Contains(text(value(task, "loop")), s) {
					secret = true
				}
			}
			if secret && (short == "copy" || short == "file") && scalar(value(args, "state")) != "absent" && scalar(value(args, "state")) != "directory" {
				if m := scalar(value(args, "mode")); m != "0600" {
					add(task.Line, "a secret file (%s) with mode %q: want \"0600\"", strings.Join(secretNames, ", "), m)
				}
				if short == "copy" && scalar(value(task, "diff")) != "false" {
					add(task.Line, "a secret file copied without diff: false (--diff would print it)")
				}
			}
		}
	}
}

// moduleOf is the task's module key and its arguments.
func moduleOf(task *yaml.Node) (string, *yaml.Node) {
	for i := 0; i+1 < len(task.Content); i += 2 {
		if k := task.Content[i].Value; !taskKeywords[k] {
			return k, task.Content[i+1]
		}
	}
	return "", nil
}

// dupKeys reports a mapping key given twice anywhere under n.
func dupKeys(n *yaml.Node, add addFunc) {
	if n == nil {
		return
	}
	if n.Kind == yaml.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if first, ok := seen[k.Value]; ok {
				add(k.Line, "key %q given twice (first on line %d): YAML keeps only one", k.Value, first)
			}
			seen[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		dupKeys(c, add)
	}
}

// value is the value of key in mapping n, nil if absent.
func value(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// seq is the items of sequence n (none when n is not one).
func seq(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// text is every scalar under n, joined.
func text(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	var parts []string
	for _, c := range n.Content {
		parts = append(parts, text(c))
	}
	return strings.Join(parts, " ")
}
