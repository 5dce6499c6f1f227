// Command kuma-demo (`make demo`) shows kuma-agent on a cluster that exists
// only on this machine: five KUMA hosts of a Raft-Core install on loopback
// addresses 127.0.77.x, each with its own /etc/hosts, machine-id, hostname
// and services (loopback listeners), and a real `kuma-agent run` process per
// host, gossiping with encryption. A few faults are injected on purpose. It
// prints the inventory preflight, `kuma-agent members` and `kuma-agent
// doctor --cluster`, then stops the agents and removes everything it made.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
	"github.com/kuma-agent/kuma-agent/internal/inventory"
	"github.com/kuma-agent/kuma-agent/internal/testlab/ntpserver"
	"github.com/kuma-agent/kuma-agent/internal/testlab/sandbox"
)

// demoNet is where the demo's hosts live: 127.0.77.x.
const demoNet = "127.0.77."

func main() {
	bin := flag.String("agent", "bin/kuma-agent-demo", "the kuma-agent binary to run, built with -tags kumatesthooks for the skewed clock (make demo builds it)")
	keep := flag.Bool("keep", false, "keep the sandbox directory and print its path")
	wait := flag.Bool("wait", false, "keep the cluster running at the end, until Ctrl-C, to look at the status page")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *bin, *keep, *wait); err != nil {
		fmt.Fprintf(os.Stderr, "kuma-demo: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, bin string, keep, wait bool) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (run `make demo`, which builds it)", err)
	}
	dir, err := os.MkdirTemp("", "kuma-demo-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(out, "sandbox: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	invPath := filepath.Join(dir, "inventory.yml")
	if err := os.WriteFile(invPath, []byte(sandbox.DemoInventory(demoNet)), 0o644); err != nil {
		return err
	}
	c, err := inventory.Load(invPath)
	if err != nil {
		return err
	}
	if _, err := sandbox.WriteKeyring(dir); err != nil {
		return err
	}
	good, err := ntpserver.Listen("127.0.0.1:0", 4*time.Millisecond, 2)
	if err != nil {
		return fmt.Errorf("NTP server: %w", err)
	}
	defer good.Close()
	bad, err := ntpserver.Listen("127.0.0.1:0", sandbox.DemoSkew, 2)
	if err != nil {
		return fmt.Errorf("NTP server: %w", err)
	}
	defer bad.Close()
	svc, err := sandbox.StartServices(c, func(h *cluster.Host) bool { return sandbox.DemoFaults[h.Name].ServicesDown })
	if err != nil {
		return err
	}
	defer svc.Close()

	fmt.Fprintf(out, "== kuma-agent inventory check inventory.yml\n")
	cmdOut(ctx, out, bin, "inventory", "check", invPath)

	var agents []*exec.Cmd
	defer func() {
		for _, a := range agents {
			_ = a.Process.Signal(syscall.SIGTERM)
		}
		for _, a := range agents {
			_ = a.Wait()
		}
	}()
	cfgPaths := map[string]string{}
	pages := map[string]string{} // node -> its status page
	for _, h := range c.Hosts {
		cfg, err := sandbox.WriteNode(dir, invPath, c, h, sandbox.DemoFaults[h.Name])
		if err != nil {
			return err
		}
		cfg.Checks.NTP.Servers = []string{good.Addr()}
		env := os.Environ()
		if h.Name == sandbox.DemoSkewed {
			cfg.Checks.NTP.Servers = []string{bad.Addr()}
			env = append(env, "KUMA_AGENT_TEST_CLOCK_OFFSET="+sandbox.DemoSkew.String())
		}
		cfg.Checks.Disk.MinFree = config.GiB // the sandbox shares this machine's disk
		cfg.Checks.Interval = 2 * time.Second
		// The demo has no time to wait out flap damping: report at once.
		cfg.Checks.FailuresBeforeCritical = 1
		pages[h.Name] = "http://" + cfg.Agent.HTTPAddr + "/status"
		cfgPaths[h.Name], err = writeConfig(dir, h.Name, cfg)
		if err != nil {
			return err
		}
		logf, err := os.Create(filepath.Join(dir, "nodes", h.Name, "agent.log"))
		if err != nil {
			return err
		}
		a := exec.Command(bin, "run", "--config", cfgPaths[h.Name])
		a.Env, a.Stdout, a.Stderr = env, logf, logf
		a.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := a.Start(); err != nil {
			return err
		}
		logf.Close()
		agents = append(agents, a)
	}
	first := cfgPaths[c.Hosts[0].Name]
	fmt.Fprintf(out, "\n== started %d agents (kuma-agent run), waiting for the mesh to form\n", len(agents))
	if err := waitMembers(ctx, dir, c, 20*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n== status page (read-only; every agent serves its own): %s\n", pages[c.Hosts[0].Name])
	if !wait {
		fmt.Fprintln(out, "   (the demo ends in a minute; `make demo DEMO_FLAGS=--wait` keeps the cluster up to look at it)")
	}
	fmt.Fprintf(out, "\n== kuma-agent members   (on %s)\n", c.Hosts[0].Name)
	cmdOut(ctx, out, bin, "members", "--config", first)
	// --fresh: the agents just started, the continuous evaluation has not
	// damped its way to the faults yet; show what they are now.
	fmt.Fprintf(out, "\n== kuma-agent doctor --cluster --fresh   (on %s)\n", c.Hosts[0].Name)
	cmdOut(ctx, out, bin, "doctor", "--cluster", "--fresh", "--config", first)
	fmt.Fprintf(out, "\n== kuma-agent events --type check.status_changed --since 1m   (the history in NATS JetStream)\n")
	if err := waitEvents(ctx, bin, first, len(c.Hosts), 60*time.Second); err != nil {
		fmt.Fprintf(out, "(events not available: %v)\n", err)
	} else {
		cmdOut(ctx, out, bin, "events", "--config", first, "--type", "check.status_changed", "--since", "1m")
		victim := c.Hosts[2].Name
		fmt.Fprintf(out, "\n== kill -9 the agent of %s; kuma-agent events --follow --type member.failed\n", victim)
		fctx, cancel := context.WithTimeout(ctx, 15*time.Second) // room for the stream to elect a new leader if the victim led it
		follow := exec.CommandContext(fctx, bin, "events", "--config", first, "--follow", "--type", "member.failed", "--since", "0s")
		follow.Stdout, follow.Stderr = out, out
		if err := follow.Start(); err == nil {
			time.Sleep(500 * time.Millisecond)
			_ = agents[2].Process.Kill()
			_ = follow.Wait()
		}
		cancel()
		fmt.Fprintln(out, "(the failure was announced by the agents that saw it; an alerts subscriber acts on such events)")
	}
	fmt.Fprintln(out, "\nThe faults were injected on purpose: kuma-core-3's KUMA services are down; kuma-collector-1's /etc/hosts\n"+
		"lacks a host and maps another wrongly; kuma-storage-1 is a clone of kuma-core-1 (same machine-id) and its clock runs 1.5 s ahead.")
	// The evaluator's page has the measurements (margins, skews, the
	// matrix); the others show its findings and name it.
	page := pages[c.Hosts[0].Name]
	if ev := evaluator(ctx, pages); ev != "" {
		page = pages[ev]
		fmt.Fprintf(out, "\n== the cluster evaluator is %s; its status page: %s\n", ev, page)
	}
	if wait {
		fmt.Fprintf(out, "\n== the cluster keeps running: status page %s; Ctrl-C ends the demo\n", page)
		<-ctx.Done()
	}
	return nil
}

// evaluator is the node whose /metrics says it evaluates the cluster
// (kuma_agent_cluster_evaluator 1), "" when none says so.
func evaluator(ctx context.Context, pages map[string]string) string {
	for node, page := range pages {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(page, "/status")+"/metrics", nil)
		if err != nil {
			continue
		}
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if line == "kuma_agent_cluster_evaluator 1" {
				return node
			}
		}
	}
	return ""
}

func writeConfig(dir, name string, cfg config.Config) (string, error) {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "nodes", name, "agent.yaml")
	return p, os.WriteFile(p, b, 0o600)
}

// waitMembers polls the first agent until every host is an alive member
// carrying health tags.
func waitMembers(ctx context.Context, dir string, c *cluster.Cluster, within time.Duration) error {
	sock := filepath.Join(dir, "nodes", c.Hosts[0].Name, "control.sock")
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var ms []control.MemberInfo
		err := control.Call(ctx, sock, control.OpMembers, nil, &ms)
		ready := 0
		for _, m := range ms {
			if m.Status == "alive" && m.Health != "unknown" {
				ready++
			}
		}
		if err == nil && ready == len(c.Hosts) {
			return nil
		}
		if err != nil && !errors.Is(err, control.ErrNoAgent) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	logs, _ := os.ReadFile(filepath.Join(dir, "nodes", c.Hosts[0].Name, "agent.log"))
	return fmt.Errorf("the mesh did not form within %v; first agent's log:\n%s", within, logs)
}

// waitEvents waits until every agent's agent.started event is in the
// stream: the embedded NATS servers have formed their JetStream cluster and
// each agent's outbox has drained into it.
func waitEvents(ctx context.Context, bin, cfg string, agents int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		cmd := exec.CommandContext(ctx, bin, "events", "--config", cfg, "--format", "json", "--type", "agent.started")
		b, err := cmd.Output()
		nodes := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var e struct {
				Source string `json:"source"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Source != "" {
				nodes[e.Source] = true
			}
		}
		if err == nil && len(nodes) >= agents {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d agents' events in the stream after %v (%v)", len(nodes), agents, within, err)
		}
		time.Sleep(time.Second)
	}
}

// cmdOut runs a kuma-agent command and copies its output; its exit status
// (1 or 2 when it found problems) is the point of the demo, not an error.
func cmdOut(ctx context.Context, out io.Writer, bin string, args ...string) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		fmt.Fprintf(out, "(exit status %d)\n", ee.ExitCode())
	} else if err != nil {
		fmt.Fprintf(out, "(%v)\n", err)
	}
}
