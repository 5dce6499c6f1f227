package inventory

import (
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// nameRuleFindings is the layout's host-name rule as data.
var nameRuleFindings = map[cluster.NameRule]struct {
	violates func(string) bool
	code     string
	message  string
	remedy   string
}{
	cluster.NameNeedsDot: {
		violates: func(n string) bool { return !strings.Contains(n, ".") },
		code:     "name-no-dot",
		message:  "no dot: KUMA needs the name `hostname -f` prints, with at least one dot (e.g. kuma.local)",
		remedy:   "set an FQDN with hostnamectl and use exactly that name, case included",
	},
	cluster.NameNoDot: {
		violates: func(n string) bool { return strings.Contains(n, ".") },
		code:     "name-has-dot",
		message:  "has a dot: Acura host names must not be FQDNs",
		remedy:   "use the short host name (DNS must still resolve it)",
	},
}

func ruleHostNames(c *cluster.Cluster) []Finding {
	var out []Finding
	for _, h := range c.Hosts {
		nr, ruled := nameRuleFindings[c.Layout.NameRuleFor(h.Roles)]
		if strings.Contains(h.Name, "_") && invalidHostname(strings.ReplaceAll(h.Name, "_", "-")) == "" {
			out = append(out, newFinding(Error, "name-invalid", h,
				"rename the host with '-' for each '_': here, in DNS and on the machine (hostnamectl set-hostname)",
				"'_' is not allowed in host names (RFC 952/1123) nor in Kubernetes node names (RFC 1123)"))
			continue
		}
		if reason := invalidHostname(h.Name); reason != "" {
			out = append(out, newFinding(Error, "name-invalid", h,
				"use the machine's host name as `hostname -f` prints it",
				"not a valid host name: %s", reason))
			continue
		}
		if ruled && nr.violates(h.Name) {
			out = append(out, newFinding(Error, nr.code, h, nr.remedy, "%s", nr.message))
		}
	}
	return out
}

// invalidHostname explains why name is no RFC 1123 host name ("" if it is).
func invalidHostname(name string) string {
	if isIP(name) {
		return "it is an IP address; put it in ansible_host and use the host name as the name"
	}
	if len(name) > 253 {
		return "longer than 253 characters"
	}
	for _, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return "empty label (two dots, or a leading or trailing dot)"
		case len(label) > 63:
			return "a label is longer than 63 characters"
		case label[0] == '-' || label[len(label)-1] == '-':
			return "a label starts or ends with '-'"
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return "only letters, digits, '-' and '.' are allowed"
			}
		}
	}
	return ""
}

// ruleCoreName: the Core's domain must not start with a digit.
func ruleCoreName(c *cluster.Cluster) []Finding {
	if c.Layout == cluster.LayoutAcura {
		return nil
	}
	var out []Finding
	for _, h := range c.RaftMembers() {
		if h.Name != "" && h.Name[0] >= '0' && h.Name[0] <= '9' {
			out = append(out, newFinding(Error, "core-name-leading-digit", h,
				"give the Core host a name that starts with a letter",
				"starts with a digit: the Core's domain name must not start with a digit (KUMA issues the Core's certificate to it)"))
		}
	}
	return out
}

// ruleDuplicateNames: the inventory name must equal `hostname -f` case
// included, so two names differing only in case cannot both be right.
func ruleDuplicateNames(c *cluster.Cluster) []Finding {
	var out []Finding
	first := map[string]*cluster.Host{}
	for _, h := range c.Hosts {
		key := strings.ToLower(h.Name)
		prev, seen := first[key]
		if !seen {
			first[key] = h
			continue
		}
		out = append(out, newFinding(Error, "duplicate-name-case", h,
			"use one spelling, exactly as `hostname -f` prints it",
			"differs from %s (line %d) only in case: they are one machine, and only one spelling matches hostname -f", prev.Name, prev.Line))
	}
	return out
}
