package netlab

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the processes the lab runs: with
// NETLAB_HELPER set, TestHelper acts as a TCP echo server or client.
const helperEnv = "NETLAB_HELPER"

func TestHelper(t *testing.T) {
	addr := os.Getenv("NETLAB_ADDR")
	switch os.Getenv(helperEnv) {
	case "":
		return // an ordinary test run
	case "echo":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(3)
		}
		fmt.Println("listening", ln.Addr())
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(3)
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				fmt.Fprint(c, "echo "+line)
			}()
		}
	case "dial":
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(4)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		fmt.Fprintln(c, "ping")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			fmt.Println("read:", err)
			os.Exit(4)
		}
		fmt.Print(line)
		os.Exit(0)
	}
}

func helper(cmd *exec.Cmd, role, addr string) *exec.Cmd {
	cmd.Env = append(os.Environ(), helperEnv+"="+role, "NETLAB_ADDR="+addr)
	return cmd
}

// dial runs the client in host from against addr.
func dial(l *Lab, from int, addr string) (string, error) {
	out, err := helper(l.Exec(from, os.Args[0], "-test.run=^TestHelper$"), "dial", addr).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestHostsTalkOverTheSwitchAndCutOffIsolates(t *testing.T) {
	l := New(t, 2)
	for i := 1; i <= 2; i++ {
		out, err := l.Exec(i, "ip", "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
		if err != nil || !strings.Contains(string(out), l.Addr(i)+"/24") {
			t.Fatalf("host %d eth0: %v %s", i, err, out)
		}
	}
	logPath := filepath.Join(t.TempDir(), "echo.log")
	addr := net.JoinHostPort(l.Addr(1), "7000")
	srv, err := l.StartCmd(helper(l.Exec(1, os.Args[0], "-test.run=^TestHelper$"), "echo", addr), logPath)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got, err = dial(l, 2, addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || got != "echo ping" {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("dial from host 2: %v %q; server log: %s", err, got, log)
	}
	// Each host knows the other's MAC for good (staticNeighbours): no ARP,
	// nothing for the kernel's shared neighbour table to evict.
	for i, other := range map[int]int{1: 2, 2: 1} {
		out, err := exec.Command("ip", "-n", l.Namespace(i), "neigh", "show", l.Addr(other)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), mac(other)) || !strings.Contains(string(out), "PERMANENT") {
			t.Errorf("host %d neighbour entry for host %d: %v %q", i, other, err, out)
		}
	}
	// Hosts have no default route: their traffic cannot leave the lab.
	if out, err := exec.Command("ip", "-n", l.Namespace(2), "route", "show").CombinedOutput(); err != nil || strings.Contains(string(out), "default") {
		t.Errorf("host 2 routes: %v %s", err, out)
	}

	if err := l.CutOff(1); err != nil {
		t.Fatal(err)
	}
	if got, err := dial(l, 2, addr); err == nil {
		t.Fatalf("host 1 is cut off, yet host 2 got %q", got)
	}
	if err := l.Heal(1); err != nil {
		t.Fatal(err)
	}
	if got, err := dial(l, 2, addr); err != nil || got != "echo ping" {
		t.Fatalf("after heal: %v %q", err, got)
	}

	srv.Kill()
	select {
	case <-srv.Done():
	default:
		t.Fatal("Kill returned before the process was reaped")
	}
	if got, err := dial(l, 2, addr); err == nil {
		t.Fatalf("server killed, yet host 2 got %q", got)
	}
}

func TestStopEndsTheGroupGracefully(t *testing.T) {
	l := New(t, 1)
	p, err := l.Start(1, "", "sh", "-c", "sleep 30 & wait")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("SIGTERM did not end sh at once (%v)", d)
	}
	// SIGKILL is delivered asynchronously, and an orphan that died stays a
	// zombie here (this container's PID 1 does not reap): wait briefly for
	// the group to hold no live process.
	deadline := time.Now().Add(3 * time.Second)
	for liveInGroup(p.PID()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has %d live processes", p.PID(), liveInGroup(p.PID()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveInGroup counts the processes of group pgid that are not zombies.
func liveInGroup(pgid int) int {
	n := 0
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			n++
		}
	}
	return n
}

// cleanupTB collects cleanups so the test can run them and look at what
// remains; everything else goes to the real T.
type cleanupTB struct {
	testing.TB
	fns []func()
}

func (c *cleanupTB) Cleanup(f func()) { c.fns = append(c.fns, f) }

func (c *cleanupTB) runCleanups() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
}

func TestCleanupRemovesNamespacesAndProcesses(t *testing.T) {
	tb := &cleanupTB{TB: t}
	defer tb.runCleanups() // if an assertion below fails first
	l := New(tb, 2)
	p, err := l.Start(2, "", "sh", "-c", "trap '' TERM; exec sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	names, err := namespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{l.switchNS(), l.Namespace(1), l.Namespace(2)} {
		if !contains(names, want) {
			t.Fatalf("namespace %s missing from %v", want, names)
		}
	}
	tb.runCleanups()
	tb.fns = nil
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("process survived cleanup")
	}
	names, err = namespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, l.Prefix()+"-") {
			t.Errorf("namespace %s survived cleanup", n)
		}
	}
}

func TestSweepRemovesLeftovers(t *testing.T) {
	tb := &cleanupTB{TB: t}
	defer tb.runCleanups()
	l := New(tb, 1)
	if err := Sweep(l.Prefix() + "-"); err != nil {
		t.Fatal(err)
	}
	names, err := namespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, l.Prefix()+"-") {
			t.Errorf("namespace %s survived Sweep", n)
		}
	}
	if err := Sweep(""); err == nil {
		t.Error("Sweep with an empty prefix would remove every namespace")
	}
}

func TestStaleLabNamesAreRecognised(t *testing.T) {
	for name, want := range map[string]bool{
		"kl1x2a-1-sw": true, "kl1x2a-b-h12": true,
		"kl1x2a-1-p1": false, "mynet": false, "kl-1-sw": false,
	} {
		if got := labName.MatchString(name); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
