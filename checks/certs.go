package checks

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/certfile"
)

// Certs defaults, used when the fields are zero (config.Default sets the same).
const (
	DefaultCertsWarn = 30 * 24 * time.Hour
	DefaultCertsCrit = 7 * 24 * time.Hour
	// maxCertFiles bounds the files one run reads (globs over a directory
	// an operator filled with thousands of files cost no more than this).
	maxCertFiles = 512
)

// CertLayout is where one kind of node keeps certificates and how they are
// renewed: a table row, so a layout is data.
type CertLayout struct {
	Name string
	// PEM and Kubeconfigs are globs; the files kubeconfigs name are read too.
	PEM, Kubeconfigs []string
	// Renew is the renewal procedure, the finding's remedy.
	Renew string
}

// DefaultCertLayouts are the layouts the agent knows. A layout whose files
// are absent costs a glob and nothing else.
var DefaultCertLayouts = []CertLayout{
	{
		Name: "kubeadm", PEM: []string{"/etc/kubernetes/pki/*.crt", "/etc/kubernetes/pki/etcd/*.crt"},
		Kubeconfigs: []string{"/etc/kubernetes/*.conf"},
		Renew: "kubeadm (Acura): on each control-plane node, one at a time: `kubeadm certs check-expiration`, `kubeadm certs renew all`, " +
			"then restart the static pods (kube-apiserver, kube-controller-manager, kube-scheduler, etcd) so they load the new files: " +
			"move their manifests out of /etc/kubernetes/manifests, wait 20 s for the kubelet to stop them, move them back; " +
			"then `systemctl restart kubelet` and copy /etc/kubernetes/admin.conf where kubectl reads it (~/.kube/config). " +
			"The CAs (ca.crt, etcd/ca.crt, front-proxy-ca.crt: 10 years) are not renewed by this; the kubelet's client certificate " +
			"(/var/lib/kubelet/pki) rotates by itself, and if it expired the kubelet must be given a new one (kubeadm's troubleshooting: kubelet client certificate rotation fails).",
	},
	{
		Name: "k0s", PEM: []string{"/var/lib/k0s/pki/*.crt", "/var/lib/k0s/pki/etcd/*.crt"},
		Kubeconfigs: []string{"/var/lib/k0s/pki/*.conf", "/var/lib/k0s/kubelet.conf"},
		Renew: "k0s: restart the controller, one at a time (`systemctl restart k0scontroller`, then `k0s status` before the next): " +
			"k0s regenerates its component certificates when they near expiry at start (confirm for your k0s version with " +
			"`openssl x509 -enddate -noout -in` on the file after the restart). Its CAs (10 years) are replaced by hand " +
			"(k0s documentation, Certificate Authorities).",
	},
	{
		Name: "kuma", PEM: []string{"/opt/kaspersky/kuma/core/certificates/*.cert", "/opt/kaspersky/kuma/core/certificates/*.crt", "/opt/kaspersky/kuma/core/certificates/*.pem"},
		Renew: "KUMA: replace the certificate as your KUMA version's help describes (Core web console certificate: new files in " +
			"/opt/kaspersky/kuma/core/certificates, then restart the Core unit); the location and steps are not confirmed by this agent: " +
			"a site must confirm them and may list the files in checks.certs.extra_paths instead.",
	},
}

// Renewal procedures of the files that are no layout's.
const (
	certsRenewAgent = "kuma-agent: issue a new certificate for this node from the CA in events.embedded.route_tls.ca_file " +
		"(or events.nats.ca_file), replace the file named in agent.yaml (mode 0600 for keys) and `systemctl restart kuma-agent`."
	certsRenewExtra = "Renew it with whoever issued it (a path from checks.certs.extra_paths) and restart what reads it."
)

// MetricCertExpiry is each certificate's expiry.
var MetricCertExpiry = &Metric{Name: "kuma_agent_certificate_expiry_timestamp_seconds",
	Help: "When each certificate the certs check reads expires (Unix time), by file (and place in a kubeconfig) and subject.", Labels: []string{"file", "subject"}}

// Certs warns before the certificates of this node's layout expire:
// kubeadm's (one year, and the cluster stops when they lapse), k0s's,
// KUMA's, the agent's own route TLS files and any extra ones.
type Certs struct {
	// Layouts; nil means DefaultCertLayouts.
	Layouts []CertLayout
	// AgentFiles are the agent's own TLS files from its config (PEM).
	AgentFiles []string
	// ExtraPaths are globs of more PEM files or kubeconfigs (.conf,
	// .kubeconfig, .yaml, .yml are read as kubeconfigs).
	ExtraPaths []string
	// Warn and Crit; 0 means the defaults.
	Warn, Crit time.Duration
	// Root prefixes every path (tests); "" is the real root.
	Root string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu   sync.Mutex
	last []certSeen
}

// certSeen is one certificate read and the layout it belongs to.
type certSeen struct {
	certfile.Cert
	layout string
}

// CertFact is one certificate in a compact form: what a node tells the
// cluster evaluator (the soonest to expire).
type CertFact struct {
	File     string `json:"file"`
	Subject  string `json:"subject"`
	NotAfter int64  `json:"not_after"` // Unix seconds
	Layout   string `json:"layout"`
}

func (*Certs) Name() string { return "certs" }
func (*Certs) Area() Area   { return AreaSecurity }

// Renewal is the renewal procedure of layout name ("" when unknown).
func Renewal(layouts []CertLayout, name string) string {
	switch name {
	case "agent":
		return certsRenewAgent
	case "extra":
		return certsRenewExtra
	}
	for _, l := range layouts {
		if l.Name == name {
			return l.Renew
		}
	}
	return ""
}

// certSource is one glob or file and how to read it.
type certSource struct {
	pattern    string
	kubeconfig bool
	layout     string
}

func (c *Certs) sources() []certSource {
	layouts := c.Layouts
	if layouts == nil {
		layouts = DefaultCertLayouts
	}
	var out []certSource
	for _, l := range layouts {
		for _, p := range l.PEM {
			out = append(out, certSource{pattern: p, layout: l.Name})
		}
		for _, p := range l.Kubeconfigs {
			out = append(out, certSource{pattern: p, kubeconfig: true, layout: l.Name})
		}
	}
	for _, p := range c.AgentFiles {
		if p != "" {
			out = append(out, certSource{pattern: p, layout: "agent"})
		}
	}
	for _, p := range c.ExtraPaths {
		switch filepath.Ext(p) {
		case ".conf", ".kubeconfig", ".yaml", ".yml":
			out = append(out, certSource{pattern: p, kubeconfig: true, layout: "extra"})
		default:
			out = append(out, certSource{pattern: p, layout: "extra"})
		}
	}
	return out
}

func (c *Certs) Run(ctx context.Context) Result {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	warn, crit := cmp.Or(c.Warn, DefaultCertsWarn), cmp.Or(c.Crit, DefaultCertsCrit)
	layouts := c.Layouts
	if layouts == nil {
		layouts = DefaultCertLayouts
	}
	res := Result{Status: OK}
	report := func(s Status, msg, remedy string) { diskReport(&res, s, msg, remedy) }

	var seen []certSeen
	read := map[string]bool{}
	files := 0
	var readOne func(path, layout string, kubeconfig bool)
	readOne = func(path, layout string, kubeconfig bool) {
		if read[path] || ctx.Err() != nil {
			return
		}
		read[path] = true
		if files++; files > maxCertFiles {
			if files == maxCertFiles+1 {
				report(Warn, fmt.Sprintf("more than %d certificate files: the rest are not read", maxCertFiles), "Narrow checks.certs.extra_paths.")
			}
			return
		}
		shown := c.shown(path)
		data, err := certfile.ReadFile(path)
		if err != nil {
			report(Warn, fmt.Sprintf("cannot read certificates from %s: %v", shown, err), c.badFileRemedy(shown, layouts, layout))
			return
		}
		if kubeconfig {
			k, err := certfile.ParseKubeconfig(shown, data)
			if err != nil {
				report(Warn, "cannot read certificates: "+err.Error(), c.badFileRemedy(shown, layouts, layout))
				return
			}
			for _, ct := range k.Certs {
				seen = append(seen, certSeen{ct, layout})
			}
			for _, f := range k.Files {
				readOne(c.under(f), layout, false)
			}
			return
		}
		certs, err := certfile.ParsePEM(shown, data)
		if err != nil {
			report(Warn, "cannot read certificates: "+err.Error(), c.badFileRemedy(shown, layouts, layout))
			return
		}
		for _, ct := range certs {
			seen = append(seen, certSeen{ct, layout})
		}
	}
	for _, src := range c.sources() {
		matches, err := filepath.Glob(c.under(src.pattern))
		if err != nil {
			report(Warn, fmt.Sprintf("bad certificate path pattern %q: %v", src.pattern, err), "Correct checks.certs.extra_paths in agent.yaml.")
			continue
		}
		if len(matches) == 0 && (src.layout == "agent" || src.layout == "extra") && !strings.ContainsAny(src.pattern, "*?[") {
			report(Warn, fmt.Sprintf("%s does not exist (named in agent.yaml)", src.pattern), "Correct the path in agent.yaml or put the certificate there.")
		}
		for _, m := range matches {
			readOne(m, src.layout, src.kubeconfig)
		}
	}
	if ctx.Err() != nil {
		return Unknownf("check cancelled: "+ctx.Err().Error(), "")
	}

	t := now()
	slices.SortStableFunc(seen, func(a, b certSeen) int { return a.NotAfter.Compare(b.NotAfter) })
	for _, s := range seen {
		left := s.NotAfter.Sub(t)
		what := fmt.Sprintf("%s: %s", s.Name(), s.Subject)
		switch {
		case left <= 0:
			report(Crit, fmt.Sprintf("%s expired %s ago (%s)", what, DurationDays(-left), s.NotAfter.UTC().Format(time.RFC3339)), Renewal(layouts, s.layout))
		case left < crit:
			report(Crit, fmt.Sprintf("%s expires in %s (%s)", what, DurationDays(left), s.NotAfter.UTC().Format(time.RFC3339)), Renewal(layouts, s.layout))
		case left < warn:
			report(Warn, fmt.Sprintf("%s expires in %s (%s)", what, DurationDays(left), s.NotAfter.UTC().Format(time.RFC3339)), Renewal(layouts, s.layout))
		}
	}
	c.mu.Lock()
	c.last = seen
	c.mu.Unlock()
	if res.Status == OK {
		if len(seen) == 0 {
			res.Message = "no certificate found (no kubeadm, k0s or KUMA certificates on this node, none configured)"
		} else {
			res.Message = fmt.Sprintf("%d certificate(s) valid for at least %s; the first expires %s (%s)",
				len(seen), DurationDays(warn), seen[0].NotAfter.UTC().Format("2006-01-02"), seen[0].Name())
		}
		res.Remedy = ""
	}
	return res
}

// under is path inside Root.
func (c *Certs) under(path string) string {
	if c.Root == "" {
		return path
	}
	return filepath.Join(c.Root, path)
}

// shown is path as the node knows it (without Root).
func (c *Certs) shown(path string) string {
	if c.Root == "" {
		return path
	}
	if rel, err := filepath.Rel(c.Root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return "/" + rel
	}
	return path
}

func (c *Certs) badFileRemedy(file string, layouts []CertLayout, layout string) string {
	return fmt.Sprintf("Inspect %s (`openssl x509 -noout -enddate -in FILE` for PEM; for a kubeconfig the base64 fields): "+
		"a damaged certificate file breaks whatever reads it. %s", file, Renewal(layouts, layout))
}

// Samples are the expiry of every certificate the latest run read.
func (c *Certs) Samples() []Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Sample, 0, len(c.last))
	for _, s := range c.last {
		out = append(out, Sample{Metric: MetricCertExpiry, Labels: []string{s.Name(), s.Subject}, Value: float64(s.NotAfter.Unix())})
	}
	return out
}

// Soonest are the n certificates of the latest run that expire first,
// compact, for the cluster evaluator.
func (c *Certs) Soonest(n int) []CertFact {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CertFact, 0, min(n, len(c.last)))
	for _, s := range c.last[:min(n, len(c.last))] {
		out = append(out, CertFact{File: s.Name(), Subject: s.Subject, NotAfter: s.NotAfter.Unix(), Layout: s.layout})
	}
	return out
}

// DurationDays prints a span in days, or hours under two days (how
// certificate findings say how long is left).
func DurationDays(d time.Duration) string {
	if d < 48*time.Hour {
		return d.Round(time.Hour).String()
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
