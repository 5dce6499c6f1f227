package sandbox

import (
	"fmt"
	"time"
)

// The demo cluster: `make demo` runs it on 127.0.77.x, and the status
// page's browser test runs it in-process on addresses of its own. Five
// KUMA hosts of a distributed install with the Core in a 3-node Raft
// cluster, and a few faults injected on purpose.

// DemoInventory is the demo's inventory with its hosts at prefix+N (prefix
// is the first three octets and a dot, e.g. "127.0.77.").
func DemoInventory(prefix string) string {
	return fmt.Sprintf(`# kuma-demo: KUMA 4.0 distributed install, Core in a 3-node Raft cluster.
all:
  vars:
    deploy_to_k8s: false
    generate_etc_hosts: true
kuma:
  vars:
    ansible_user: root
  children:
    kuma_core:
      hosts:
        kuma-core-1.demo.local:
          ip: %[1]s1
          raft_node_addr: "kuma-core-1.demo.local:7209"
    kuma_core_peers:
      hosts:
        kuma-core-2.demo.local:
          ip: %[1]s2
        kuma-core-3.demo.local:
          ip: %[1]s3
    kuma_collector:
      hosts:
        kuma-collector-1.demo.local:
          ip: %[1]s11
    kuma_storage:
      hosts:
        kuma-storage-1.demo.local:
          ip: %[1]s21
`, prefix)
}

// DemoFaults are what the demo breaks, so doctor has something to say:
// kuma-core-3's KUMA services are down; kuma-collector-1's /etc/hosts lacks
// a host and maps another wrongly; kuma-storage-1 is a clone of
// kuma-core-1 (same machine-id) and its clock runs DemoSkew ahead.
var DemoFaults = map[string]Fault{
	"kuma-core-3.demo.local":      {ServicesDown: true},
	"kuma-collector-1.demo.local": {HostsMissing: []string{"kuma-core-3.demo.local"}, HostsWrong: []string{"kuma-core-2.demo.local"}},
	"kuma-storage-1.demo.local":   {MachineIDOf: "kuma-core-1.demo.local"},
}

// DemoSkewed is the demo node whose clock runs DemoSkew ahead (its NTP
// server, and its answers to the agents' time queries).
const (
	DemoSkewed = "kuma-storage-1.demo.local"
	DemoSkew   = 1500 * time.Millisecond
)
