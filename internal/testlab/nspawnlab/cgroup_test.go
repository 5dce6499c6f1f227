package nspawnlab

import (
	"reflect"
	"testing"
)

func TestParseHierarchies(t *testing.T) {
	hybrid := `35 25 0:30 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
36 35 0:31 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
37 35 0:32 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
38 35 0:33 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 35 0:34 /x /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 35 0:35 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`
	cg := "4:memory:/process_api/abc\n3:cpuset:/\n1:cpu:/\n9:name=systemd:/\n0::/\n"
	want := []hierarchy{
		{"/sys/fs/cgroup/memory", "/process_api/abc"},
		{"/sys/fs/cgroup/cpu", "/"},
		{"/sys/fs/cgroup/systemd", "/"},
		{"/sys/fs/cgroup/unified", "/"},
	}
	if got := parseHierarchies(hybrid, cg); !reflect.DeepEqual(got, want) {
		t.Errorf("hybrid:\n got %v\nwant %v", got, want)
	}
	v2 := "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
	want = []hierarchy{{"/sys/fs/cgroup", "/user.slice/test"}}
	if got := parseHierarchies(v2, "0::/user.slice/test\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("v2:\n got %v\nwant %v", got, want)
	}
	// cpu,cpuacct mounted together is one hierarchy.
	v1 := "36 35 0:31 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
	want = []hierarchy{{"/sys/fs/cgroup/cpu,cpuacct", "/a"}}
	if got := parseHierarchies(v1, "2:cpu,cpuacct:/a\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("co-mounted:\n got %v\nwant %v", got, want)
	}
	if h := want[0]; h.dir("kl1-1-h1") != "/sys/fs/cgroup/cpu,cpuacct/a/kl1-1-h1" {
		t.Errorf("dir %s", h.dir("kl1-1-h1"))
	}
}

func TestHostNamesAreRecognised(t *testing.T) {
	for name, want := range map[string]bool{
		"kl1x2a-1-h1": true, "kl1x2a-b-h12": true,
		"kl1x2a-1-sw": false, "kl1x2a-1-p1": false, "mynet": false, "kl-1-h1": false,
	} {
		if got := hostName.MatchString(name); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}
