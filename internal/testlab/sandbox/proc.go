package sandbox

import (
	"fmt"
	"os"
	"strings"
)

// procFiles are the /proc files the resources check reads through gopsutil
// (meminfo, vmstat, cpuinfo, loadavg) for a quiet 8-CPU host with
// memTotalKiB of RAM (0: 32 GiB), three quarters of it available.
func procFiles(memTotalKiB uint64) []struct {
	name, content string
	mode          os.FileMode
} {
	if memTotalKiB == 0 {
		memTotalKiB = 32 << 20
	}
	var cpuinfo strings.Builder
	for i := range 8 {
		fmt.Fprintf(&cpuinfo, "processor\t: %d\nmodel name\t: sandbox\n\n", i)
	}
	return []struct {
		name, content string
		mode          os.FileMode
	}{
		{"proc/meminfo", fmt.Sprintf("MemTotal:       %d kB\nMemFree:        %d kB\nMemAvailable:   %d kB\nBuffers:               0 kB\nCached:                0 kB\n",
			memTotalKiB, memTotalKiB/2, memTotalKiB*3/4), 0o444},
		{"proc/vmstat", "pswpin 0\npswpout 0\n", 0o444},
		{"proc/cpuinfo", cpuinfo.String(), 0o444},
		{"proc/loadavg", "0.10 0.20 0.30 1/100 4242\n", 0o444},
	}
}
