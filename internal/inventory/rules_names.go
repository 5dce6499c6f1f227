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
		message:  "%s has no dot: KUMA needs the name `hostname -f` prints, with at least one dot (e.g. kuma.local)",
		remedy:   "set an FQDN with hostnamectl and use exactly that name, case included",
	},
	cluster.NameNoDot: {
		violates: func(n string) bool { return strings.Contains(n, ".") },
		code:     "name-has-dot",
		message:  "%s has a dot: Acura host names must not be FQDNs",
		remedy:   "use the short host name (DNS must still resolve it)",
	},
}

func ruleHostNames(c *cluster.Cluster) []Finding {
	nr := nameRuleFindings[c.Layout.NameRule()]
	var out []Finding
	for _, h := range c.Hosts {
		if reason := invalidHostname(h.Name); reason != "" {
			out = append(out, newFinding(Error, "name-invalid", h,
				"use the machine's host name as `hostname -f` prints it",
				"%q is not a valid host name: %s", h.Name, reason))
			continue
		}
		if nr.violates(h.Name) {
			out = append(out, newFinding(Error, nr.code, h, nr.remedy, nr.message, h.Name))
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
				"%s starts with a digit: the Core's domain name must not start with a digit (KUMA issues the Core's certificate to it)", h.Name))
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
			"%s and %s (line %d) differ only in case: they are one machine, and only one spelling matches hostname -f", h.Name, prev.Name, prev.Line))
	}
	return out
}
