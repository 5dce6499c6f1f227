package inventory

import (
	"fmt"
	"strings"
	"testing"
)

// bigInventory writes a realistic large k0s inventory: 3 controllers, a
// load balancer, and the rest split over workers, collectors, correlators
// and storage, every host with an address and a few vars.
func bigInventory(hosts int) string {
	var b strings.Builder
	b.WriteString("all:\n  vars:\n    ansible_connection: ssh\n    ansible_user: root\n    deploy_to_k8s: true\n    need_transfer: false\n    generate_etc_hosts: true\n")
	ip := 0
	host := func(name string, extra string) {
		ip++
		fmt.Fprintf(&b, "        %s.site.example.com:\n          ansible_host: 10.%d.%d.%d\n%s", name, 20+ip/65536, ip/256%256, ip%256, extra)
	}
	rest := hosts - 4
	workers, collectors, correlators := rest/2, rest/4, rest/8
	storage := rest - workers - collectors - correlators
	b.WriteString("kuma:\n  children:\n    kuma_collector:\n      hosts:\n")
	for i := range collectors {
		host(fmt.Sprintf("collector-%d", i), "")
	}
	b.WriteString("    kuma_correlator:\n      hosts:\n")
	for i := range correlators {
		host(fmt.Sprintf("correlator-%d", i), "")
	}
	b.WriteString("    kuma_storage:\n      hosts:\n")
	for i := range storage {
		host(fmt.Sprintf("storage-%d", i), fmt.Sprintf("          shard: %d\n          replica: %d\n          keeper: %d\n", i/2+1, i%2+1, i+1))
	}
	b.WriteString("kuma_k0s:\n  children:\n    kuma_lb:\n      hosts:\n")
	host("lb", "          kuma_managed_lb: true\n")
	b.WriteString("    kuma_control_plane_master:\n      hosts:\n")
	host("cp-0", "")
	b.WriteString("    kuma_control_plane:\n      hosts:\n")
	host("cp-1", "")
	host("cp-2", "")
	b.WriteString("    kuma_worker:\n      hosts:\n")
	for i := range workers {
		host(fmt.Sprintf("worker-%d", i), "          extra_args: \"--labels=kaspersky.com/kuma-ingress=true,node.longhorn.io/create-default-disk=true\"\n")
	}
	return b.String()
}

func TestBigInventory(t *testing.T) {
	c, err := Parse("big.yml", []byte(bigInventory(600)))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Hosts) != 600 || c.Layout != "k0s" {
		t.Fatalf("%d hosts, layout %s", len(c.Hosts), c.Layout)
	}
	if f := Validate(c); ExitCode(f) != 0 {
		t.Errorf("findings on a healthy big inventory: %v", f)
	}
}

func BenchmarkLoadValidate600(b *testing.B) {
	data := []byte(bigInventory(600))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		c, err := Parse("big.yml", data)
		if err != nil {
			b.Fatal(err)
		}
		if ExitCode(Validate(c)) != 0 {
			b.Fatal("unexpected findings")
		}
	}
}
