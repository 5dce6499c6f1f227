// Package fakeproc writes a /proc for the ports check: socket tables
// (net/tcp, net/udp) listing a wildcard listener on each port given, so a
// test judges a host that runs exactly those sockets without binding any.
package fakeproc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// Listeners returns a directory to use as /proc where each port listens
// on 0.0.0.0 (TCP in state LISTEN, UDP unconnected). It is removed with
// the test's temporary directories.
func Listeners(t testlab.TB, ports ...cluster.Port) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatalf("fakeproc: %v", err)
	}
	tables := map[cluster.Proto]*strings.Builder{cluster.TCP: {}, cluster.UDP: {}}
	for i, p := range ports {
		state := "0A" // TCP_LISTEN
		if p.Proto == cluster.UDP {
			state = "07" // TCP_CLOSE: how an unconnected UDP socket shows
		}
		fmt.Fprintf(tables[p.Proto], "%4d: 00000000:%04X 00000000:0000 %s 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 100 0 0 10 0\n",
			i, p.Number, state, 1000+i)
	}
	for proto, b := range tables {
		if err := os.WriteFile(filepath.Join(dir, "net", string(proto)), []byte(header+b.String()), 0o644); err != nil {
			t.Fatalf("fakeproc: %v", err)
		}
	}
	return dir
}
