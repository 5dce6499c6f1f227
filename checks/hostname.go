package checks

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// DefaultInstallDirs are the directories whose presence means KUMA or k0s
// is installed on the node (so renaming it would break certificates).
var DefaultInstallDirs = []string{"/opt/kaspersky/kuma", "/var/lib/k0s"}

// Hostname checks the node's name the way the KUMA installer requires it:
// `hostname -f` must equal the inventory name exactly, case included; KUMA
// names must contain a dot (kuma.local) while Acura names must not; it
// should equal the static hostname; a Core's name must not start with a
// digit. KUMA issues certificates to this name and Raft peers address each
// other by it, so a host must not be renamed after install.
type Hostname struct {
	// Expected is this node's inventory name; empty when the node is not in
	// the inventory (the name is then only checked against Rule).
	Expected string
	Rule     cluster.NameRule
	// IsCore is true on a KUMA Core host.
	IsCore bool
	// StaticFile holds the static hostname; "" means /etc/hostname.
	StaticFile string
	// Bin is the hostname program; "" means "hostname".
	Bin string
	// Cmd runs `<Bin> -f`; nil means ExecCommander.
	Cmd Commander
	// InstallDirs mark an installed node (nil: DefaultInstallDirs); on one
	// the remedy warns that renaming breaks certificates.
	InstallDirs []string
}

func (*Hostname) Name() string { return "hostname" }
func (*Hostname) Area() Area   { return AreaNames }

// hostnameFinding is one rule's verdict; Run reports the worst first.
type hostnameFinding struct {
	status Status
	msg    string
}

func (h *Hostname) Run(ctx context.Context) Result {
	bin := cmp.Or(h.Bin, "hostname")
	var cmd Commander = ExecCommander{}
	if h.Cmd != nil {
		cmd = h.Cmd
	}
	out, err := cmd.Run(ctx, bin, "-f")
	fqdn := strings.TrimSpace(string(out))
	if err != nil {
		return Unknownf(fmt.Sprintf("`%s -f` failed: %v", bin, err),
			"`hostname -f` fails when the host's own name does not resolve: map it in /etc/hosts "+
				"(`<node IP> <FQDN>`) and check `getent hosts $(hostname)`.",
			hostnameOutput(out)...)
	}
	if fqdn == "" || strings.ContainsAny(fqdn, " \t\n") {
		return Unknownf(fmt.Sprintf("`%s -f` printed %q, not one host name", bin, fqdn),
			"Check `hostname -f` by hand; it must print this node's FQDN.")
	}

	static, staticNote := h.staticName()
	findings := h.judge(fqdn, static)
	var details []string
	details = append(details, "hostname -f: "+fqdn)
	if staticNote != "" {
		details = append(details, staticNote)
	} else {
		details = append(details, "static hostname ("+h.staticFile()+"): "+static)
	}
	if h.Expected == "" {
		details = append(details, "this node is not in the inventory: the name was not compared with it")
	}
	if len(findings) == 0 {
		return Okf(fmt.Sprintf("hostname -f is %s", fqdn), details...)
	}
	slices.SortStableFunc(findings, func(a, b hostnameFinding) int { return int(b.status) - int(a.status) })
	for _, f := range findings {
		details = append(details, f.status.String()+": "+f.msg)
	}
	msg := findings[0].msg
	if len(findings) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(findings)-1)
	}
	return Result{Status: findings[0].status, Message: msg, Details: details, Remedy: h.remedy(fqdn)}
}

// judge applies the naming rules; static is "" when unknown.
func (h *Hostname) judge(fqdn, static string) []hostnameFinding {
	var found []hostnameFinding
	add := func(s Status, format string, args ...any) {
		found = append(found, hostnameFinding{s, fmt.Sprintf(format, args...)})
	}
	switch {
	case h.Rule == cluster.NameNeedsDot && !strings.Contains(fqdn, "."):
		add(Crit, "hostname -f is %q: KUMA requires a fully qualified name with at least one dot (e.g. %s.local)", fqdn, fqdn)
	case h.Rule == cluster.NameNoDot && strings.Contains(fqdn, "."):
		add(Crit, "hostname -f is %q: Acura requires a name without dots (e.g. %s)", fqdn, strings.SplitN(fqdn, ".", 2)[0])
	}
	switch {
	case h.Expected == "" || fqdn == h.Expected:
	case strings.EqualFold(fqdn, h.Expected):
		add(Crit, "hostname -f is %q but the inventory says %q: they differ only in letter case, and KUMA compares names case-sensitively", fqdn, h.Expected)
	default:
		add(Crit, "hostname -f is %q but the inventory names this node %q", fqdn, h.Expected)
	}
	if h.IsCore && fqdn[0] >= '0' && fqdn[0] <= '9' {
		add(Crit, "Core host name %q starts with a digit, which KUMA's Core does not accept", fqdn)
	}
	if static != "" && static != fqdn {
		add(Warn, "hostname -f is %q but the static hostname in %s is %q; they should be equal", fqdn, h.staticFile(), static)
	}
	return found
}

func (h *Hostname) remedy(fqdn string) string {
	name := h.Expected
	if name == "" {
		name = "<inventory name>"
		if h.Rule == cluster.NameNeedsDot && strings.Contains(fqdn, ".") || h.Rule == cluster.NameNoDot && !strings.Contains(fqdn, ".") {
			name = fqdn
		}
	}
	r := fmt.Sprintf("Set the name: `hostnamectl set-hostname %s`, and map it in /etc/hosts (`<node IP> %s`) on every cluster node; "+
		"then `hostname -f` must print exactly %s.", name, name, name)
	if h.Expected != "" && strings.EqualFold(fqdn, h.Expected) && fqdn != h.Expected {
		r += " Also check the spelling of the name in /etc/hosts: `hostname -f` prints it as written there."
	}
	if dir := h.installedAt(); dir != "" {
		r += fmt.Sprintf(" CAUTION: this node is already installed (%s exists): renaming an installed node breaks its certificates. "+
			"If the current name is the one it was installed with, correct the inventory instead; otherwise plan a reinstall of this node.", dir)
	}
	return r
}

// staticName reads the first line of the static hostname file. The note
// explains why the name is unknown ("" when it was read).
func (h *Hostname) staticName() (name, note string) {
	path := h.staticFile()
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", path + " does not exist: static hostname not compared"
	}
	if err != nil {
		return "", fmt.Sprintf("cannot read %s: %v: static hostname not compared", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", fmt.Sprintf("cannot read %s: %v: static hostname not compared", path, err)
		}
		return "", path + " is empty: static hostname not compared"
	}
	name = strings.TrimSpace(sc.Text())
	if name == "" {
		return "", path + " has an empty first line: static hostname not compared"
	}
	return name, ""
}

func (h *Hostname) staticFile() string { return cmp.Or(h.StaticFile, "/etc/hostname") }

func (h *Hostname) installedAt() string {
	dirs := h.InstallDirs
	if dirs == nil {
		dirs = DefaultInstallDirs
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	return ""
}

// hostnameOutput turns a failed command's output into details (at most a
// few lines, so a runaway program cannot flood the report).
func hostnameOutput(out []byte) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" && len(lines) < 5 {
			lines = append(lines, "output: "+l)
		}
	}
	return lines
}
