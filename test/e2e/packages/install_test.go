package packages

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab/nspawnlab"
)

// TestPackageLifecycle installs the packages on real systemd and walks
// through an operator's life with them, on three hosts:
//
//	h1 .deb, keyring placed first (how configuration management does it)
//	h2 .rpm, keyring placed first (rpm -i, rpm -U, rpm -e)
//	h3 .deb, nothing placed first (an operator following the README)
//
// install: enabled and active (READY from Type=notify), the git version,
// the unit's sandbox in force yet the agent reads units over D-Bus and the
// watchdog is fed; upgrade to a newer build keeps an edited agent.yaml and
// restarts the agent on the new binary; removal stops and disables it; a
// reinstall after removal is enabled again; purge removes the state.
//
//	sudo make e2e   # or: KUMA_E2E=1 go test -count=1 -run TestPackageLifecycle -v ./test/e2e/packages/
func TestPackageLifecycle(t *testing.T) {
	requireE2E(t)
	p := packages(t)
	cur, next := p.Cur, p.Next

	// 1. Version and file names.
	if cur.Version != p.GitVersion {
		t.Errorf("kuma-agent version of `make package` is %q, git describe says %q", cur.Version, p.GitVersion)
	}
	if want := "kuma-agent_" + cur.PkgVersion + "_amd64.deb"; cur.DebName != want {
		t.Errorf("deb named %s, want %s", cur.DebName, want)
	}
	if want := "kuma-agent-" + cur.PkgVersion + ".x86_64.rpm"; cur.RPMName != want {
		t.Errorf("rpm named %s, want %s", cur.RPMName, want)
	}
	newer(t, next.PkgVersion, cur.PkgVersion)
	t.Logf("FIGURE package sizes: %s %s, %s %s; binary %s", cur.DebName, mib(cur.DebSize), cur.RPMName, mib(cur.RPMSize), mib(cur.BinSize))

	lab := nspawnlab.New(t, 3, nspawnlab.Options{BindRO: map[string]string{p.dir: optDir}})
	hs := nodes(t, lab)
	h1, h2, h3 := hs[0], hs[1], hs[2]
	keyring := keygen(t, cur)
	for _, h := range []node{h1, h2} {
		h.write("/etc/kuma-agent/gossip.keyring", keyring, 0o600)
	}

	// 2. Install.
	dDeb := h1.install("dpkg -i", cur.Deb)
	// rpm's database on Debian knows nothing of dpkg's packages, but the
	// package requires nothing (nfpm adds no Requires), so no --nodeps.
	dRPM := h2.install("rpm -i", cur.RPM)
	h3.install("dpkg -i", cur.Deb)
	t.Logf("FIGURE install time (package manager run, unit started): dpkg -i %v, rpm -i %v", dDeb.Round(time.Millisecond), dRPM.Round(time.Millisecond))
	for _, h := range []node{h1, h2} {
		// The postinst's `deb-systemd-invoke start` (rpm %post: `systemctl
		// start`) returns once READY=1 came.
		if st := h.show("kuma-agent.service", "ActiveState", "UnitFileState"); st["ActiveState"] != "active" || st["UnitFileState"] != "enabled" {
			t.Fatalf("%s: right after install: %v, want active and enabled\n%s", h.Name(), st, h.sh("systemctl status kuma-agent --no-pager -n 30 || true"))
		}
	}
	// Without a keyring the unit is enabled but waits for it.
	st := h3.show("kuma-agent.service", "ActiveState", "UnitFileState")
	if st["ActiveState"] != "inactive" || st["UnitFileState"] != "enabled" {
		t.Fatalf("h3 (no keyring): %v, want inactive and enabled", st)
	}
	h3.sh("systemctl start kuma-agent")
	if c := h3.show("kuma-agent.service", "ConditionResult", "ActiveState"); c["ConditionResult"] != "no" || c["ActiveState"] != "inactive" {
		t.Errorf("h3: a start without a keyring: %v, want the condition unmet and inactive", c)
	}
	t.Logf("h3 without keyring:\n%s", h3.sh("systemctl status kuma-agent --no-pager 2>&1 | head -5 || true"))
	h3.write("/etc/kuma-agent/gossip.keyring", keyring, 0o600)
	h3.sh("systemctl start kuma-agent")
	h3.waitActive("kuma-agent.service", 30*time.Second)

	for _, h := range hs {
		if v := h.sh("kuma-agent version"); v != "kuma-agent "+cur.Version {
			t.Errorf("%s: %q, want kuma-agent %s", h.Name(), v, cur.Version)
		}
	}
	checkDocs(t, h1, "deb")
	checkDocs(t, h2, "rpm")

	// 3. The sandbox is in force, and the agent works inside it.
	checkSandbox(t, h1)
	for _, h := range []node{h2, h3} {
		waitJournal(t, h, "kuma-agent.service", "check=units", 30*time.Second)
	}

	// 4. Upgrade to a newer build keeps an edited agent.yaml.
	const mark = "# edited by the operator: keep me"
	for _, h := range []node{h1, h2} {
		h.sh(`sed -i 's/^log_level: info$/log_level: debug/' /etc/kuma-agent/agent.yaml && echo '` + mark + `' >> /etc/kuma-agent/agent.yaml && systemctl restart kuma-agent`)
		h.waitActive("kuma-agent.service", 30*time.Second)
	}
	before := map[string]int{h1.Name(): h1.agentPID(), h2.Name(): h2.agentPID()}
	dDeb = h1.install("dpkg -i", next.Deb)
	dRPM = h2.install("rpm -U", next.RPM)
	t.Logf("FIGURE upgrade time (agent restarted on the new binary): dpkg -i %v, rpm -U %v", dDeb.Round(time.Millisecond), dRPM.Round(time.Millisecond))
	for _, h := range []node{h1, h2} {
		h.waitActive("kuma-agent.service", 30*time.Second)
		st := h.show("kuma-agent.service", "UnitFileState", "MainPID")
		if st["UnitFileState"] != "enabled" {
			t.Errorf("%s: after the upgrade the unit is %q, want enabled", h.Name(), st["UnitFileState"])
		}
		pid := h.agentPID()
		if pid == before[h.Name()] {
			t.Errorf("%s: the agent (pid %d) was not restarted by the upgrade", h.Name(), pid)
		}
		if exe := h.sh(fmt.Sprintf("readlink /proc/%d/exe", pid)); exe != "/usr/bin/kuma-agent" {
			t.Errorf("%s: the agent runs %q, want the new /usr/bin/kuma-agent", h.Name(), exe)
		}
		if v := h.sh("kuma-agent version"); v != "kuma-agent "+next.Version {
			t.Errorf("%s: after the upgrade %q, want kuma-agent %s", h.Name(), v, next.Version)
		}
		cfg := h.read("/etc/kuma-agent/agent.yaml")
		if !strings.Contains(cfg, mark) || !strings.Contains(cfg, "\nlog_level: debug\n") {
			t.Errorf("%s: the upgrade lost the edited agent.yaml:\n%s", h.Name(), cfg)
		}
		if left := h.sh("ls /etc/kuma-agent/"); strings.Contains(left, ".dpkg-") || strings.Contains(left, ".rpmnew") {
			t.Errorf("%s: the upgrade left %s", h.Name(), left)
		}
		waitJournal(t, h, "kuma-agent.service", "level=DEBUG", 30*time.Second)
	}

	// 5. Removal stops and disables; a deb keeps its conffiles and state
	// until purge, and a reinstall after removal is a first install again.
	h1.sh("dpkg -r kuma-agent")
	h2.sh("rpm -e kuma-agent 2>&1")
	for _, h := range []node{h1, h2} {
		removed(t, h)
	}
	if !strings.Contains(h1.read("/etc/kuma-agent/agent.yaml"), mark) {
		t.Error("h1: dpkg -r removed the edited agent.yaml")
	}
	if !strings.Contains(h2.read("/etc/kuma-agent/agent.yaml.rpmsave"), mark) {
		t.Error("h2: rpm -e did not keep the edited agent.yaml as .rpmsave")
	}
	for _, h := range []node{h1, h2} {
		if _, err := h.try("test -e /var/lib/kuma-agent/serf.snapshot"); err != nil {
			t.Errorf("%s: removal (not purge) deleted the state: %v", h.Name(), err)
		}
	}
	h1.install("dpkg -i", cur.Deb) // back to the older build: a downgrade after removal
	h1.waitActive("kuma-agent.service", 30*time.Second)
	if st := h1.show("kuma-agent.service", "UnitFileState"); st["UnitFileState"] != "enabled" {
		t.Errorf("h1: reinstalled after dpkg -r: %v, want enabled", st)
	}
	h1.sh("dpkg -P kuma-agent")
	removed(t, h1)
	if out, err := h1.try("ls -A /var/lib/kuma-agent /etc/kuma-agent/agent.yaml 2>&1"); err == nil {
		t.Errorf("h1: dpkg -P left state or config: %s", out)
	}
	if _, err := h1.try("test -s /etc/kuma-agent/gossip.keyring"); err != nil {
		t.Error("h1: dpkg -P removed the operator's keyring")
	}
	h3.sh("dpkg -P kuma-agent")
	removed(t, h3)
}

// newer fails unless a sorts after b for both dpkg and rpm.
func newer(t *testing.T, a, b string) {
	t.Helper()
	if err := exec.Command("dpkg", "--compare-versions", a, "gt", b).Run(); err != nil {
		t.Errorf("dpkg: %s is not newer than %s", a, b)
	}
	if out, err := exec.Command("rpm", "--eval", fmt.Sprintf("%%{lua: print(rpm.vercmp(%q, %q))}", a, b)).Output(); err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Errorf("rpm: %s is not newer than %s (%s %v)", a, b, out, err)
	}
}

// removed checks the agent is stopped, its unit gone and not enabled.
func removed(t *testing.T, h node) {
	t.Helper()
	st := h.show("kuma-agent.service", "LoadState", "ActiveState")
	if st["LoadState"] != "not-found" || st["ActiveState"] != "inactive" {
		t.Errorf("%s: after removal kuma-agent.service is %v, want not-found and inactive", h.Name(), st)
	}
	if out, err := h.try("ls /etc/systemd/system/*.wants/ | grep kuma-agent"); err == nil {
		t.Errorf("%s: still enabled after removal: %s", h.Name(), out)
	}
	if h.agentRunning() {
		t.Errorf("%s: a kuma-agent process survived the removal", h.Name())
	}
}

// waitJournal waits for a journal line of unit containing want.
func waitJournal(t *testing.T, h node, unit, want string, within time.Duration) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s: %q in the journal of %s", h.Name(), want, unit), within, func() (bool, string) {
		out, _ := h.try("journalctl -b -u " + unit + " -o cat --no-pager | grep -F -m1 -- '" + want + "'")
		return out != "", ""
	})
}

// checkSandbox shows the unit's hardening is applied to the running agent
// and does not keep it from working: READY arrived (active), the watchdog
// is fed (a short WatchdogSec does not kill it), it reads units over
// D-Bus (the units check has a result), and its journal lines are there.
func checkSandbox(t *testing.T, h node) {
	t.Helper()
	pid := h.agentPID()
	status := h.sh(fmt.Sprintf("grep -E '^(NoNewPrivs|Seccomp):' /proc/%d/status", pid))
	if !strings.Contains(status, "NoNewPrivs:\t1") || !strings.Contains(status, "Seccomp:\t2") {
		t.Errorf("%s: the agent runs without NoNewPrivileges or its system call filter:\n%s", h.Name(), status)
	}
	if out, err := h.try(fmt.Sprintf("nsenter -t %d -m touch /usr/lib/kuma-probe /etc/kuma-probe", pid)); err == nil {
		t.Errorf("%s: /usr and /etc are writable in the agent's mount namespace: %s", h.Name(), out)
	}
	h.sh(fmt.Sprintf("nsenter -t %d -m sh -c 'touch /etc/kuma-agent/.probe && rm /etc/kuma-agent/.probe'", pid))
	waitJournal(t, h, "kuma-agent.service", "kuma-agent running", 30*time.Second)
	waitJournal(t, h, "kuma-agent.service", "systemd watchdog enabled", 30*time.Second)
	// The shipped config's agent.max_procs: 1 and agent.gc_percent: 100
	// reach the runtime.
	waitJournal(t, h, "kuma-agent.service", "gomaxprocs=1 from=agent.max_procs gc_percent=100 gc_percent_from=agent.gc_percent", 30*time.Second)
	// The supervisor's units check reads systemd over D-Bus: a result
	// other than unknown means it got an answer.
	waitJournal(t, h, "kuma-agent.service", "check=units", 30*time.Second)
	if line := h.sh("journalctl -b -u kuma-agent -o cat --no-pager | grep -F -m1 check=units"); strings.Contains(line, "to=unknown") {
		t.Errorf("%s: the units check cannot read systemd: %s", h.Name(), line)
	}
	t.Logf("%s: %s", h.Name(), h.sh("systemd-analyze security kuma-agent.service --no-pager 2>/dev/null | tail -1"))

	// The watchdog: with WatchdogSec=2s, an agent that did not ping at
	// least every 2 s would be killed and restarted within the 7 s waited.
	h.write("/etc/systemd/system/kuma-agent.service.d/watchdog.conf", "[Service]\nWatchdogSec=2s\n", 0o644)
	h.sh("systemctl daemon-reload && systemctl restart kuma-agent")
	pid = h.agentPID()
	time.Sleep(7 * time.Second)
	st := h.show("kuma-agent.service", "ActiveState", "MainPID", "NRestarts", "WatchdogUSec", "StatusText")
	if st["ActiveState"] != "active" || st["MainPID"] != fmt.Sprint(pid) || st["NRestarts"] != "0" || st["WatchdogUSec"] != "2s" {
		t.Errorf("%s: with WatchdogSec=2s after 7 s: %v (pid was %d)", h.Name(), st, pid)
	}
	if out, _ := h.try("journalctl -b -u kuma-agent --no-pager | grep -i 'watchdog timeout'"); out != "" {
		t.Errorf("%s: %s", h.Name(), out)
	}
	// A hung agent (stopped: no pings) is killed by the watchdog and
	// restarted by Restart=always.
	h.sh(fmt.Sprintf("kill -STOP %d", pid))
	hungAt := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st = h.show("kuma-agent.service", "ActiveState", "MainPID", "NRestarts")
		if st["ActiveState"] == "active" && st["MainPID"] != fmt.Sprint(pid) && st["MainPID"] != "0" && st["NRestarts"] != "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: a hung agent was not restarted by the watchdog within 30 s: %v", h.Name(), st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitJournal(t, h, "kuma-agent.service", "Watchdog timeout", 10*time.Second)
	t.Logf("%s: hung agent restarted by systemd's watchdog %s after the hang (WatchdogSec=2s, RestartSec=2s): %v",
		h.Name(), time.Since(hungAt).Round(100*time.Millisecond), st)
	h.sh("rm -r /etc/systemd/system/kuma-agent.service.d && systemctl daemon-reload && systemctl restart kuma-agent")
	h.waitActive("kuma-agent.service", 30*time.Second)
	pid = h.agentPID()
	time.Sleep(2 * time.Second)
	t.Logf("FIGURE agent RSS after start (%s, no inventory, 2 s after READY): %d KiB", h.Name(), h.rssKiB(pid))
	t.Logf("%s: systemctl status:\n%s", h.Name(), h.sh("systemctl status kuma-agent --no-pager -n 0"))
}

// checkDocs shows what the package installs for people and tools besides
// the agent: the manual page where man looks for it, `man kuma-agent`
// showing it and rendering cleanly; bash completion loaded by
// bash-completion and completing a subcommand, also in a plain bash (the
// script needs nothing else); zsh completion where the distribution's zsh
// looks; the changelog and copyright the distribution's tools show.
func checkDocs(t *testing.T, h node, format string) {
	t.Helper()
	const page = "/usr/share/man/man1/kuma-agent.1.gz"
	if _, err := h.try("command -v man"); err == nil {
		// man-db in the rootfs: man finds the page by name and renders it.
		if got := h.sh("man -w kuma-agent"); got != page {
			t.Errorf("%s: man -w kuma-agent = %q, want %s", h.Name(), got, page)
		}
		if out := h.sh("MANWIDTH=80 man -P cat kuma-agent 2>&1"); !strings.Contains(out, "kuma-agent doctor [flags]") {
			t.Errorf("%s: man kuma-agent:\n%.300s", h.Name(), out)
		}
	} else {
		// No man-db in this rootfs (an older packaging/test/rootfs.sh).
		t.Logf("%s: no man-db in the rootfs; rendering the installed %s here only", h.Name(), page)
	}
	// This machine's man-db renders the installed page without a warning
	// (what lintian reports as groff-message).
	gz, err := h.ReadFile(page)
	if err != nil {
		t.Fatalf("%s: the manual page is not installed: %v", h.Name(), err)
	}
	local := filepath.Join(t.TempDir(), "kuma-agent.1.gz")
	if err := os.WriteFile(local, gz, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("man", "--warnings", "-l", local)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8", "MANPAGER=cat", "PAGER=cat")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	text, err := cmd.Output()
	if err != nil || stderr.Len() > 0 || !strings.Contains(string(text), "kuma-agent doctor [flags]") {
		t.Errorf("%s: man -l %s: %v, warnings %q, page:\n%.300s", h.Name(), page, err, stderr.String(), text)
	}

	// bash-completion in the rootfs: its loader finds the script by the
	// command's name, as an interactive shell would on the first <Tab>.
	if _, err := h.try("test -f /usr/share/bash-completion/bash_completion"); err == nil {
		const load = `source /usr/share/bash-completion/bash_completion; _completion_loader kuma-agent; complete -p kuma-agent`
		if got := h.sh("bash --norc -c '" + load + "'"); got != "complete -o default -F _kuma_agent kuma-agent" {
			t.Errorf("%s: bash-completion's loader: %q", h.Name(), got)
		}
	}
	const complete = `source /usr/share/bash-completion/completions/kuma-agent
COMP_WORDS=(kuma-agent raft re); COMP_CWORD=2; _kuma_agent; echo "${COMPREPLY[*]}"`
	if got := h.sh("bash --norc -c '" + complete + "'"); got != "remove-node restore-node restore-cluster" {
		t.Errorf("%s: bash completion of `kuma-agent raft re`: %q", h.Name(), got)
	}
	if out := h.sh("kuma-agent completion bash | cmp - /usr/share/bash-completion/completions/kuma-agent && echo same"); out != "same" {
		t.Errorf("%s: the installed bash completion is not the binary's: %s", h.Name(), out)
	}
	zsh := map[string]string{"deb": "/usr/share/zsh/vendor-completions/_kuma-agent", "rpm": "/usr/share/zsh/site-functions/_kuma-agent"}[format]
	if _, err := h.try("head -1 " + zsh + " | grep -qx '#compdef kuma-agent'"); err != nil {
		t.Errorf("%s: no zsh completion at %s", h.Name(), zsh)
	}

	switch format {
	case "deb":
		h.sh("test -s /usr/share/doc/kuma-agent/copyright && zcat /usr/share/doc/kuma-agent/changelog.Debian.gz | head -1 | grep -q '^kuma-agent ('")
		// deb-systemd-helper enabled the agent and keeps its state (it
		// refuses to run outside dpkg: its state file is read instead).
		h.sh("test -s /var/lib/systemd/deb-systemd-helper-enabled/kuma-agent.service.dsh-also")
	case "rpm":
		if out := h.sh("rpm -q --changelog kuma-agent | head -1"); !strings.HasPrefix(out, "* ") {
			t.Errorf("%s: rpm -q --changelog: %q", h.Name(), out)
		}
		h.sh("rpm -qd kuma-agent | grep -qx " + page + " && rpm -qL kuma-agent | grep -q copyright")
	}
}
