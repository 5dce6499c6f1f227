package kumaunit

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Limits on what Parse reads: an ExecStart is a command line, and what
// systemd hands over is still input.
const (
	MaxArgs     = 256
	MaxArgBytes = 4096
)

// Exec is a KUMA service's command line, read from its unit's ExecStart.
type Exec struct {
	Argv      []string `json:"-"`
	Binary    string   `json:"binary"`
	Component string   `json:"component,omitempty"` // the first word: core, collector, ...
	Flags     []Flag   `json:"flags,omitempty"`     // in the order given
	// Problems are values that do not have their flag's shape (kept in
	// Flags as given); a check reports them, nothing stops.
	Problems []string `json:"problems,omitempty"`
}

// Flag is one flag as given.
type Flag struct {
	Name     string `json:"name"` // without the leading dashes
	Value    string `json:"value,omitempty"`
	HasValue bool   `json:"has_value,omitempty"`
	Known    bool   `json:"known"` // in the Flags table
}

// Parse reads a KUMA command line (argv[0] is the binary). Unknown flags
// are kept (Known false) with the word after them as their value unless
// that word is itself a flag; values of known flags that do not have the
// documented shape are Problems. The only errors are an empty argv and one
// over the size limits.
func Parse(argv []string) (Exec, error) {
	if len(argv) == 0 {
		return Exec{}, errors.New("empty command line")
	}
	if len(argv) > MaxArgs {
		return Exec{}, fmt.Errorf("command line has %d arguments, more than the %d read", len(argv), MaxArgs)
	}
	for i, a := range argv {
		if len(a) > MaxArgBytes {
			return Exec{}, fmt.Errorf("argument %d is %d bytes, more than the %d read", i, len(a), MaxArgBytes)
		}
	}
	e := Exec{Argv: append([]string(nil), argv...), Binary: argv[0]}
	rest := argv[1:]
	if len(rest) > 0 && rest[0] != "" && !strings.HasPrefix(rest[0], "-") {
		e.Component, rest = rest[0], rest[1:]
	}
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		name, isFlag := flagName(a)
		if !isFlag {
			e.Flags = append(e.Flags, Flag{Name: "", Value: a, HasValue: true})
			e.Problems = append(e.Problems, fmt.Sprintf("argument %q is no flag", a))
			continue
		}
		f := Flag{Name: name}
		if n, v, ok := strings.Cut(name, "="); ok {
			f.Name, f.Value, f.HasValue = n, v, true
		}
		if f.Name == "" {
			e.Flags = append(e.Flags, Flag{Value: a, HasValue: true})
			e.Problems = append(e.Problems, fmt.Sprintf("argument %q is no flag", a))
			continue
		}
		spec, known := Spec(f.Name)
		f.Known = known
		wantsValue := !known || spec.Value != ValueNone
		if !f.HasValue && wantsValue && i+1 < len(rest) {
			if _, next := flagName(rest[i+1]); !next {
				f.Value, f.HasValue = rest[i+1], true
				i++
			}
		}
		if known {
			if p := checkValue(spec, f); p != "" {
				e.Problems = append(e.Problems, p)
			}
		}
		e.Flags = append(e.Flags, f)
	}
	return e, nil
}

// flagName strips one or two leading dashes. "-" and "--" alone are no
// flags.
func flagName(a string) (string, bool) {
	switch {
	case strings.HasPrefix(a, "--") && len(a) > 2:
		return a[2:], true
	case strings.HasPrefix(a, "-") && len(a) > 1 && a[1] != '-':
		return a[1:], true
	}
	return "", false
}

func checkValue(spec FlagSpec, f Flag) string {
	bad := func(format string, args ...any) string {
		return fmt.Sprintf("--%s %q: %s", f.Name, f.Value, fmt.Sprintf(format, args...))
	}
	if spec.Value == ValueNone {
		if f.HasValue && f.Value != "true" && f.Value != "false" {
			return bad("takes no value")
		}
		return ""
	}
	if !f.HasValue {
		return fmt.Sprintf("--%s: needs a value", f.Name)
	}
	switch spec.Value {
	case ValueID:
		if !PlainID(f.Value) {
			return bad("is no plain service ID")
		}
	case ValueListen:
		if _, _, err := SplitHostPort(f.Value); err != nil {
			return bad("%v", err)
		}
	case ValueHostPort:
		if h, _, err := SplitHostPort(f.Value); err != nil {
			return bad("%v", err)
		} else if h == "" {
			return bad("needs a host")
		}
	case ValuePort:
		if _, err := parsePort(f.Value); err != nil {
			return bad("%v", err)
		}
	case ValueCoreList:
		if _, err := CoreAddrs(f.Value); err != nil {
			return bad("%v", err)
		}
	}
	return ""
}

// SplitHostPort splits HOST:PORT (the host may be empty for a listener)
// and checks the port.
func SplitHostPort(v string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(v)
	if err != nil {
		return "", 0, fmt.Errorf("want HOST:PORT: %w", err)
	}
	n, err := parsePort(p)
	if err != nil {
		return "", 0, err
	}
	return h, n, nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not 1-65535", p)
	}
	return n, nil
}

// CoreAddrs splits a --core value into HOST:PORT addresses: a
// comma-separated list whose items may carry a scheme (the documented
// install commands show `--core https://<FQDN>:7210`) and a trailing path.
func CoreAddrs(v string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		hostport := item
		if strings.Contains(item, "://") {
			u, err := url.Parse(item)
			if err != nil {
				return nil, fmt.Errorf("item %q: %w", item, err)
			}
			if p := path.Clean("/" + u.Path); p != "/" {
				return nil, fmt.Errorf("item %q: a Core address has no path", item)
			}
			hostport = u.Host
		}
		h, _, err := SplitHostPort(hostport)
		if err != nil {
			return nil, fmt.Errorf("item %q: %w", item, err)
		}
		if h == "" {
			return nil, fmt.Errorf("item %q: needs a host", item)
		}
		out = append(out, hostport)
	}
	if len(out) == 0 {
		return nil, errors.New("names no Core")
	}
	return out, nil
}

// Value is the last value given for a known or unknown flag.
func (e Exec) Value(name string) (string, bool) {
	v, ok := "", false
	for _, f := range e.Flags {
		if f.Name == name && f.HasValue {
			v, ok = f.Value, true
		}
	}
	return v, ok
}

// Has reports whether the flag is given at all.
func (e Exec) Has(name string) bool {
	for _, f := range e.Flags {
		if f.Name == name {
			return true
		}
	}
	return false
}

// Unknown lists the flags not in the table, as given.
func (e Exec) Unknown() []Flag {
	var out []Flag
	for _, f := range e.Flags {
		if !f.Known && f.Name != "" { // stray words are Problems
			out = append(out, f)
		}
	}
	return out
}

// ID is the --id value.
func (e Exec) ID() string { v, _ := e.Value("id"); return v }

// Listener is one of the unit's own listeners.
type Listener struct {
	Flag     string `json:"flag"`
	PortName string `json:"port_name,omitempty"` // in the cluster's port table
	Addr     string `json:"addr"`                // as given: 0.0.0.0:7208
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Meaning  string `json:"meaning"`
}

// Listeners are the unit's listener flags whose value parses (table
// order): the ports this service listens on, as its unit says. --api.port
// counts, on every address.
func (e Exec) Listeners() []Listener {
	var out []Listener
	for _, spec := range Flags {
		v, ok := e.Value(spec.Name)
		if !ok {
			continue
		}
		switch spec.Value {
		case ValueListen:
			if h, p, err := SplitHostPort(v); err == nil {
				out = append(out, Listener{Flag: spec.Name, PortName: spec.PortName, Addr: v, Host: h, Port: p, Meaning: spec.Meaning})
			}
		case ValuePort:
			if p, err := parsePort(v); err == nil {
				out = append(out, Listener{Flag: spec.Name, Addr: net.JoinHostPort("", strconv.Itoa(p)), Port: p, Meaning: spec.Meaning})
			}
		}
	}
	return out
}

// Listener finds the listener of one flag.
func (e Exec) Listener(flag string) (Listener, bool) {
	for _, l := range e.Listeners() {
		if l.Flag == flag {
			return l, true
		}
	}
	return Listener{}, false
}

// Cores is the --core list as HOST:PORT; nil when absent or malformed
// (then Problems says so).
func (e Exec) Cores() []string {
	v, ok := e.Value("core")
	if !ok {
		return nil
	}
	out, _ := CoreAddrs(v)
	return out
}

// WithoutFlag is argv with every occurrence of the flag (and its value)
// removed: the restore-cluster step "remove --raft.join from its unit".
func (e Exec) WithoutFlag(name string) []string {
	out := []string{e.Binary}
	if e.Component != "" {
		out = append(out, e.Component)
	}
	for _, f := range e.Flags {
		if f.Name == name {
			continue
		}
		switch {
		case f.Name == "":
			out = append(out, f.Value)
		case f.HasValue && (f.Value == "" || strings.HasPrefix(f.Value, "-")):
			out = append(out, "--"+f.Name+"="+f.Value)
		case f.HasValue:
			out = append(out, "--"+f.Name, f.Value)
		default:
			out = append(out, "--"+f.Name)
		}
	}
	return out
}
