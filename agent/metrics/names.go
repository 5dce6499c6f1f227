package metrics

import "fmt"

// validMetricName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	return validName(s, true)
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]* and is
// not reserved (names starting with "__" are Prometheus's own).
func validLabelName(s string) bool {
	return validName(s, false) && !(len(s) >= 2 && s[:2] == "__")
}

func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(colon && c == ':') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// checkNames panics on an invalid metric or label name, or a repeated label.
func checkNames(name string, labels []string) {
	if !validMetricName(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q (want [a-zA-Z_:][a-zA-Z0-9_:]*)", name))
	}
	seen := make(map[string]bool, len(labels))
	for _, l := range labels {
		if !validLabelName(l) {
			panic(fmt.Sprintf("metrics: %s: invalid label name %q (want [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", name, l))
		}
		if seen[l] {
			panic(fmt.Sprintf("metrics: %s: label %q repeated", name, l))
		}
		seen[l] = true
	}
}
