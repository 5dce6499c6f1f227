package inventory

import (
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// ruleHostRoles: a host in no KUMA group is ignored by the installer,
// usually because of a misspelt group name.
func ruleHostRoles(c *cluster.Cluster) []Finding {
	var out []Finding
	for _, h := range c.Hosts {
		if len(h.Roles) == 0 {
			out = append(out, newFinding(Warning, "host-without-role", h,
				"check the group name against the installer's groups (kuma_core, kuma_worker, ...)",
				"in no KUMA group (%s): the installer will do nothing with it", strings.Join(h.Groups, ", ")))
		}
	}
	return out
}

// ruleListedTwice: a host declared twice in one group (Ansible keeps the
// last) is a copy-paste slip; Core groups are ruleOneCorePerHost's job.
func ruleListedTwice(c *cluster.Cluster) []Finding {
	var out []Finding
	for _, h := range c.Hosts {
		seen := map[string]bool{}
		for _, g := range h.Groups {
			if seen[g] && !coreGroups[g] {
				out = append(out, newFinding(Warning, "host-listed-twice", h,
					"remove the repeated entry",
					"listed more than once in %s", g))
				break
			}
			seen[g] = true
		}
	}
	return out
}

// installFlag is an all.vars switch worth pointing out.
type installFlag struct {
	variable string
	value    bool
	code     string
	message  string
}

var installFlags = []installFlag{
	{"generate_etc_hosts", false, "etc-hosts-manual",
		"generate_etc_hosts is false: every host name must resolve on every machine, through DNS or an /etc/hosts kept by hand"},
	{"low_resources", true, "low-resources",
		"low_resources is true: the Core volume is 4 GB instead of 512 GB (a demo size)"},
}

// ruleInstallFlags reports installer switches that shift work to the
// operator; the layouts that take them are KUMA ones.
func ruleInstallFlags(c *cluster.Cluster) []Finding {
	if c.Layout == cluster.LayoutAcura || len(c.Hosts) == 0 {
		return nil
	}
	var out []Finding
	for _, f := range installFlags {
		for _, h := range c.Hosts {
			v, ok := h.Vars[f.variable]
			if ok && v != nil && truthy(v) == f.value {
				out = append(out, newFinding(Info, f.code, nil, "", "%s", f.message))
				break
			}
		}
	}
	return out
}
