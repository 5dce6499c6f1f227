package checks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/hostsfile"
)

// Hosts checks that /etc/hosts maps every inventory host to its inventory
// address. The KUMA installer requires every cluster machine listed in
// /etc/hosts of every machine, and hosts files drift: a node re-addressed,
// a name left on Debian's `127.0.1.1 <hostname>` line (k0s and KUMA then
// bind to or advertise the loopback address), a name spelt in another case
// (`hostname -f` prints it as written there).
type Hosts struct {
	// File is the hosts file; "" means /etc/hosts.
	File    string
	Cluster *cluster.Cluster
}

func (*Hosts) Name() string { return "hosts" }
func (*Hosts) Area() Area   { return AreaNames }

// hostsFindings gathers what is wrong, with the edits that fix it.
type hostsFindings struct {
	file    string
	status  Status
	msgs    []string // one per finding, most severe first after sort
	sev     []Status
	add     []string // lines to add
	fix     []string // edits of existing lines
	details []string
}

func (f *hostsFindings) report(s Status, msg string) {
	f.status = Worst(f.status, s)
	f.msgs = append(f.msgs, msg)
	f.sev = append(f.sev, s)
}

func (h *Hosts) Run(ctx context.Context) Result {
	path := cmp.Or(h.File, "/etc/hosts")
	if h.Cluster == nil || len(h.Cluster.Hosts) == 0 {
		return Unknownf("no inventory hosts to look for in "+path,
			"Point `inventory` in /etc/kuma-agent/agent.yaml at the cluster's inventory file.")
	}
	hf, err := hostsfile.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f := &hostsFindings{file: path}
		for _, host := range h.Cluster.Hosts {
			f.add = append(f.add, hostsLine(host))
		}
		f.report(Crit, path+" does not exist, so no cluster host is listed")
		return f.result()
	case err != nil:
		return Unknownf(fmt.Sprintf("cannot read %s: %v", path, err), "Check the file's permissions and size (`ls -l "+path+"`).")
	}

	f := &hostsFindings{file: path}
	seen := map[string]bool{}
	for _, host := range h.Cluster.Hosts {
		if ctx.Err() != nil {
			return Unknownf("check cancelled: "+ctx.Err().Error(), "")
		}
		if seen[host.Name] {
			continue
		}
		seen[host.Name] = true
		h.judgeHost(f, hf, host)
	}
	for _, p := range hf.Problems {
		f.report(Warn, fmt.Sprintf("%s:%d: malformed line: %s", p.File, p.Line, p.Msg))
		f.fix = append(f.fix, fmt.Sprintf("line %d: correct it to `<IP> <name>...` or delete it", p.Line))
	}
	if f.status == OK {
		return Okf(fmt.Sprintf("%s maps all %d inventory hosts to their addresses", path, len(seen)), f.details...)
	}
	return f.result()
}

// judgeHost compares the entries for one inventory host with its address.
func (h *Hosts) judgeHost(f *hostsFindings, hf *hostsfile.File, host *cluster.Host) {
	entries := hf.Lookup(host.Name)
	if len(entries) == 0 {
		f.report(Crit, fmt.Sprintf("%s is not in %s", host.Name, f.file))
		f.add = append(f.add, hostsLine(host))
		return
	}
	want := host.IP.Unmap()
	// An inventory that gives a DNS name, not an IP, is satisfied by any entry.
	good := !want.IsValid() || slices.ContainsFunc(entries, func(e hostsfile.Entry) bool { return e.IP.Unmap().WithZone("") == want })
	also := ""
	if good {
		also = "also "
	}
	crit := false
	for _, e := range entries {
		at := fmt.Sprintf("%s:%d", f.file, e.Line)
		got, spelt := e.IP.Unmap().WithZone(""), e.Spelling(host.Name)
		switch {
		case !want.IsValid() || got == want:
		case got.IsLoopback() && !want.IsLoopback():
			crit = true
			f.report(Crit, fmt.Sprintf("%s %smaps %s to loopback %s, inventory says %s: k0s and KUMA would bind to and advertise the loopback address (the Debian 127.0.1.1 pitfall)",
				at, also, spelt, e.IP, want))
			f.fix = append(f.fix, fmt.Sprintf("line %d: remove %s from the %s line (keep the line for other names)", e.Line, spelt, e.IP))
		case got.Is4() != want.Is4():
			// Another family is no contradiction by itself, but resolvers
			// may prefer it to the inventory's address.
			f.report(Warn, fmt.Sprintf("%s %smaps %s to %s, another address family than the inventory's %s", at, also, spelt, e.IP, want))
			f.fix = append(f.fix, fmt.Sprintf("line %d: remove %s unless this node is reachable at %s too", e.Line, spelt, e.IP))
		default:
			crit = true
			f.report(Crit, fmt.Sprintf("%s %smaps %s to %s, inventory says %s", at, also, spelt, e.IP, want))
			f.fix = append(f.fix, fmt.Sprintf("line %d: remove %s from the %s line", e.Line, spelt, e.IP))
		}
	}
	if !good {
		f.add = append(f.add, hostsLine(host))
		if !crit {
			f.report(Crit, fmt.Sprintf("%s does not map %s to its inventory address %s", f.file, host.Name, want))
		}
	}
	if !slices.ContainsFunc(entries, func(e hostsfile.Entry) bool { return strings.TrimSuffix(e.Spelling(host.Name), ".") == host.Name }) {
		e := entries[0]
		f.report(Warn, fmt.Sprintf("%s:%d spells %s as %s: `hostname -f` prints the name as written there, and KUMA compares names case-sensitively",
			f.file, e.Line, host.Name, e.Spelling(host.Name)))
		f.fix = append(f.fix, fmt.Sprintf("line %d: write %s exactly as the inventory does", e.Line, host.Name))
	}
	if i := slices.IndexFunc(entries, func(e hostsfile.Entry) bool { return !want.IsValid() || e.IP.Unmap().WithZone("") == want }); i >= 0 {
		f.details = append(f.details, fmt.Sprintf("%s -> %s (%s:%d)", host.Name, entries[i].IP, f.file, entries[i].Line))
	}
}

func (f *hostsFindings) result() Result {
	// Most severe first, file order within a severity.
	idx := make([]int, len(f.msgs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return int(f.sev[b]) - int(f.sev[a]) })
	details := slices.Clone(f.details)
	for _, i := range idx {
		details = append(details, f.sev[i].String()+": "+f.msgs[i])
	}
	msg := f.msgs[idx[0]]
	if n := len(f.msgs); n > 1 {
		msg += fmt.Sprintf(" (and %d more)", n-1)
	}
	return Result{Status: f.status, Message: msg, Details: details, Remedy: f.remedy()}
}

func (f *hostsFindings) remedy() string {
	var b strings.Builder
	if len(f.add) > 0 {
		fmt.Fprintf(&b, "Add to %s:\n", f.file)
		for _, l := range f.add {
			b.WriteString("  " + l + "\n")
		}
	}
	if len(f.fix) > 0 {
		fmt.Fprintf(&b, "Fix in %s:\n", f.file)
		for _, l := range slices.Compact(f.fix) {
			b.WriteString("  " + l + "\n")
		}
	}
	b.WriteString("Every cluster machine must be listed in /etc/hosts of every machine; apply the same edits on each node.")
	return b.String()
}

// hostsLine is the /etc/hosts line for an inventory host.
func hostsLine(h *cluster.Host) string { return hostsAddr(h) + " " + h.Name }

func hostsAddr(h *cluster.Host) string {
	if h.IP.IsValid() {
		return h.IP.Unmap().String()
	}
	if _, err := netip.ParseAddr(h.Address); err == nil || h.Address == "" {
		return "<IP of " + h.Name + ">"
	}
	return "<IP of " + h.Address + ">"
}
