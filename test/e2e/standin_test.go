package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// standinEnv makes the test binary, re-executed inside a host's namespace,
// a stand-in for that host's KUMA services: it binds "proto:addr" items
// (comma-separated) and waits to be killed. The agents' ports and reach
// checks then see real sockets across the real bridge.
const standinEnv = "KUMA_E2E_STANDIN"

// held keeps the stand-in's UDP sockets alive.
var held []net.PacketConn

// serveStandin runs when standinEnv is set; it never returns.
func serveStandin(spec string) {
	for _, item := range strings.Split(spec, ",") {
		proto, addr, _ := strings.Cut(item, ":")
		var err error
		if proto == "udp" {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp", addr); err == nil {
				held = append(held, c) // referenced, so no finalizer closes it
			}
		} else {
			var ln net.Listener
			if ln, err = net.Listen("tcp", addr); err == nil {
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						c.Close()
					}
				}()
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "stand-in %s: %v\n", item, err)
			os.Exit(3)
		}
	}
	fmt.Println("stand-in listening:", spec)
	select {}
}

// startStandins runs a stand-in for every inventory host's services in
// its namespace (killed with the lab).
func (m *meshLab) startStandins() {
	m.t.Helper()
	for _, h := range m.c.Hosts {
		var items []string
		for _, p := range cluster.ListenPorts(m.c.Layout, h.Roles, nil) {
			items = append(items, fmt.Sprintf("%s:%s", p.Proto, net.JoinHostPort(h.Address, fmt.Sprint(p.Number))))
		}
		if len(items) == 0 {
			continue
		}
		m.startStandin(hostIndex(h.Name), items)
	}
}

// startStandin runs a stand-in binding items ("proto:addr") in host i.
func (m *meshLab) startStandin(i int, items []string) {
	m.t.Helper()
	cmd := m.lab.Exec(i, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), standinEnv+"="+strings.Join(items, ","))
	if _, err := m.lab.StartCmd(cmd, filepath.Join(m.dir, fmt.Sprintf("standin-%d.log", i))); err != nil {
		fatal(m.t, err)
	}
}

// hostIndex is the host number in a name from nodeName.
func hostIndex(name string) int {
	var i int
	fmt.Sscanf(name, "core-%d.", &i)
	return i
}
