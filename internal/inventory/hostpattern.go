package inventory

import (
	"fmt"
	"strconv"
	"strings"
)

// maxExpanded bounds the hosts that `[a:b]` ranges may add to one file: a
// real inventory has hundreds of hosts, `h[0:999999999]` is a mistake or an
// attack.
const maxExpanded = 10000

// expandHostPattern turns a host key of a `hosts:` mapping into host names
// and a port, as Ansible's YAML inventory does (_expand_hostpattern):
// `name:port` and `[v6addr]:port` carry a port, `kuma-w[1:3].example.com`
// (numeric, zero-padded `[01:10]`, alphabetic `[a:c]`, with an optional
// `:step`) is a range. budget is how many names the file may still add.
func expandHostPattern(pattern string, budget int) (names []string, port string, err error) {
	pattern, port = splitHostPort(pattern)
	if !strings.Contains(pattern, "[") {
		return []string{pattern}, port, nil
	}
	names, err = expandRange(pattern, budget)
	return names, port, err
}

// splitHostPort separates a trailing `:port` from a name or a bracketed
// IPv6 address; an unbracketed IPv6 address has no port.
func splitHostPort(s string) (host, port string) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return s, ""
	}
	p := s[i+1:]
	if _, err := strconv.ParseUint(p, 10, 16); err != nil {
		return s, ""
	}
	h := s[:i]
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") && strings.Contains(h, ":") {
		return h[1 : len(h)-1], p // [2001:db8::1]:22
	}
	if strings.Contains(outsideBrackets(h), ":") || strings.Count(h, "[") != strings.Count(h, "]") {
		return s, "" // a bare IPv6 address, or the colon is a range's: kuma-w[1:3]
	}
	return h, p
}

// outsideBrackets is s without its [...] parts.
func outsideBrackets(s string) string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '[':
			depth++
		case r == ']' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// expandRange is Ansible's expand_hostname_range: the first [beg:end(:step)]
// is expanded, and each result again until no range is left.
func expandRange(pattern string, budget int) ([]string, error) {
	open := strings.IndexByte(pattern, '[')
	end := strings.IndexByte(pattern, ']')
	if open < 0 {
		return []string{pattern}, nil
	}
	if end < open {
		return nil, fmt.Errorf("host range %q has no closing ']'", pattern)
	}
	head, spec, tail := pattern[:open], pattern[open+1:end], pattern[end+1:]
	bounds := strings.Split(spec, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, fmt.Errorf("host range [%s] must be begin:end or begin:end:step", spec)
	}
	beg, last, step := bounds[0], bounds[1], 1
	if beg == "" {
		beg = "0"
	}
	if last == "" {
		return nil, fmt.Errorf("host range [%s] must give its end", spec)
	}
	if len(bounds) == 3 {
		s, err := strconv.Atoi(bounds[2])
		if err != nil || s < 1 {
			return nil, fmt.Errorf("host range [%s]: the step must be a positive number", spec)
		}
		step = s
	}
	var seq []string
	if i, j := strings.Index(letters, beg), strings.Index(letters, last); len(beg) == 1 && len(last) == 1 && i >= 0 && j >= 0 {
		if i > j {
			return nil, fmt.Errorf("host range [%s] must have begin <= end", spec)
		}
		for k := i; k <= j; k += step {
			seq = append(seq, letters[k:k+1])
		}
	} else {
		b, err1 := strconv.Atoi(beg)
		e, err2 := strconv.Atoi(last)
		if err1 != nil || err2 != nil || b < 0 || e < 0 {
			return nil, fmt.Errorf("host range [%s] needs two numbers or two letters", spec)
		}
		width := 0
		if beg[0] == '0' && len(beg) > 1 {
			if len(beg) != len(last) {
				return nil, fmt.Errorf("host range [%s] must give begin and end with as many digits", spec)
			}
			width = len(beg)
		}
		if e < b {
			return nil, fmt.Errorf("host range [%s] is empty (begin > end): Ansible adds no host", spec)
		}
		if (e-b)/step+1 > budget {
			return nil, fmt.Errorf("host range [%s] adds more than %d hosts", spec, maxExpanded)
		}
		for k := b; k <= e; k += step {
			seq = append(seq, fmt.Sprintf("%0*d", width, k))
		}
	}
	var out []string
	for _, s := range seq {
		more, err := expandRange(head+s+tail, budget-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
		if len(out) > budget {
			return nil, fmt.Errorf("host range %q adds more than %d hosts", pattern, maxExpanded)
		}
	}
	return out, nil
}
