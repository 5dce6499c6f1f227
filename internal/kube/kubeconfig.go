// Package kube is a minimal Kubernetes API client over plain HTTPS and JSON
// (no client-go: the agent reads a handful of objects and writes two
// things, and client-go would more than double the binary): the admin
// kubeconfig of the k0s and kubeadm layouts, GETs of Nodes, Pods and
// Longhorn's CRs decoded into only the fields the checks judge, the
// out-of-service taint added and removed with JSON patches that carry a
// `test` op, and DeleteNode. Every response is size-limited and every
// request timed out.
package kube

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// The layouts' admin kubeconfigs (kuma-ha.md section 6).
const (
	K0sAdminConf     = "/var/lib/k0s/pki/admin.conf"
	KubeadmAdminConf = "/etc/kubernetes/admin.conf"
)

// MaxKubeconfigBytes bounds a kubeconfig: an admin.conf with its
// certificates inline is a few KiB.
const MaxKubeconfigBytes = 256 << 10

// kubeconfigFile is what a kubeconfig may hold: one document, no aliases,
// the keys of clientcmd's v1 Config (the ones the agent cannot honour are
// refused by name in Parse, not ignored).
var kubeconfigFile = yamlstrict.Options{Kind: "kubeconfig", MaxBytes: MaxKubeconfigBytes, TopLevel: "keys (clusters:, users:, ...)"}

// Kubeconfig is a kubeconfig file as clientcmd's v1 Config spells it.
type Kubeconfig struct {
	APIVersion     string         `yaml:"apiVersion"`
	Kind           string         `yaml:"kind"`
	Clusters       []namedCluster `yaml:"clusters"`
	Users          []namedUser    `yaml:"users"`
	Contexts       []namedContext `yaml:"contexts"`
	CurrentContext string         `yaml:"current-context"`
	Preferences    map[string]any `yaml:"preferences"`
	Extensions     []any          `yaml:"extensions"`
}

type namedCluster struct {
	Name    string      `yaml:"name"`
	Cluster clusterInfo `yaml:"cluster"`
}

type clusterInfo struct {
	Server                   string `yaml:"server"`
	CertificateAuthority     string `yaml:"certificate-authority"`
	CertificateAuthorityData string `yaml:"certificate-authority-data"`
	TLSServerName            string `yaml:"tls-server-name"`
	InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
	ProxyURL                 string `yaml:"proxy-url"`
	DisableCompression       bool   `yaml:"disable-compression"`
	Extensions               []any  `yaml:"extensions"`
}

type namedUser struct {
	Name string   `yaml:"name"`
	User userInfo `yaml:"user"`
}

type userInfo struct {
	ClientCertificate     string `yaml:"client-certificate"`
	ClientCertificateData string `yaml:"client-certificate-data"`
	ClientKey             string `yaml:"client-key"`
	ClientKeyData         string `yaml:"client-key-data"`
	Token                 string `yaml:"token"`
	TokenFile             string `yaml:"tokenFile"`
	Username              string `yaml:"username"`
	Password              string `yaml:"password"`
	Exec                  any    `yaml:"exec"`
	AuthProvider          any    `yaml:"auth-provider"`
	Extensions            []any  `yaml:"extensions"`
}

type namedContext struct {
	Name    string      `yaml:"name"`
	Context contextInfo `yaml:"context"`
}

type contextInfo struct {
	Cluster    string `yaml:"cluster"`
	User       string `yaml:"user"`
	Namespace  string `yaml:"namespace"`
	Extensions []any  `yaml:"extensions"`
}

// Target is what a kubeconfig's current context resolves to: where the API
// server is and how to prove who we are, every file already read.
type Target struct {
	// Source is the kubeconfig's path, for messages.
	Source string
	Server string
	// TLSServerName overrides the name checked in the server's certificate.
	TLSServerName string
	CAPEM         []byte
	CertPEM       []byte
	KeyPEM        []byte
	Token         string
}

// LoadKubeconfig reads the kubeconfig at path (a regular file, size-capped)
// and resolves its current context.
func LoadKubeconfig(path string) (Target, error) {
	data, err := kubeconfigFile.ReadFile(path)
	if err != nil {
		return Target{}, err
	}
	// The files it names go through the same regular-file, size-capped read.
	return ParseKubeconfig(path, data, kubeconfigFile.ReadFile)
}

// ParseKubeconfig decodes data (named name in errors) strictly and resolves
// its current context; readFile reads the files it names (relative paths
// are relative to name's directory, as kubectl does). Every problem is a
// yamlstrict.Error naming the file, line and field.
func ParseKubeconfig(name string, data []byte, readFile func(string) ([]byte, error)) (Target, error) {
	doc, err := kubeconfigFile.Parse(name, data)
	if err != nil {
		return Target{}, err
	}
	var kc Kubeconfig
	if err := doc.Decode(&kc); err != nil {
		return Target{}, err
	}
	idx := doc.Index()
	fail := func(key, format string, args ...any) error {
		line := idx.Near(key)
		return yamlstrict.Errorf(name, line, key, format, args...)
	}
	if doc.Body == nil {
		return Target{}, fail("", "empty kubeconfig")
	}
	if kc.Kind != "" && kc.Kind != "Config" {
		return Target{}, fail("kind", "must be Config, not %q", kc.Kind)
	}
	if kc.APIVersion != "" && kc.APIVersion != "v1" {
		return Target{}, fail("apiVersion", "must be v1, not %q", kc.APIVersion)
	}
	ctxName := kc.CurrentContext
	if ctxName == "" {
		if len(kc.Contexts) != 1 {
			return Target{}, fail("current-context", "not set, and there are %d contexts: name the one to use", len(kc.Contexts))
		}
		ctxName = kc.Contexts[0].Name
	}
	ci := slices.IndexFunc(kc.Contexts, func(c namedContext) bool { return c.Name == ctxName })
	if ci < 0 {
		return Target{}, fail("current-context", "names context %q, which contexts does not list", ctxName)
	}
	cx := kc.Contexts[ci].Context
	cl := slices.IndexFunc(kc.Clusters, func(c namedCluster) bool { return c.Name == cx.Cluster })
	if cl < 0 {
		return Target{}, fail(fmt.Sprintf("contexts[%d].context.cluster", ci), "names cluster %q, which clusters does not list", cx.Cluster)
	}
	us := slices.IndexFunc(kc.Users, func(u namedUser) bool { return u.Name == cx.User })
	if us < 0 {
		return Target{}, fail(fmt.Sprintf("contexts[%d].context.user", ci), "names user %q, which users does not list", cx.User)
	}
	c, ckey := kc.Clusters[cl].Cluster, fmt.Sprintf("clusters[%d].cluster", cl)
	u, ukey := kc.Users[us].User, fmt.Sprintf("users[%d].user", us)
	t := Target{Source: name, Server: c.Server, TLSServerName: c.TLSServerName}
	if !strings.HasPrefix(c.Server, "https://") || len(c.Server) <= len("https://") {
		return Target{}, fail(ckey+".server", "must be an https:// URL, not %q", c.Server)
	}
	// Refused rather than ignored: each would change whom the agent trusts
	// or how it proves itself, and an admin.conf of either layout has none.
	for key, set := range map[string]bool{
		ckey + ".insecure-skip-tls-verify": c.InsecureSkipTLSVerify, ckey + ".proxy-url": c.ProxyURL != "",
		ukey + ".exec": u.Exec != nil, ukey + ".auth-provider": u.AuthProvider != nil,
		ukey + ".username": u.Username != "", ukey + ".password": u.Password != "",
	} {
		if set {
			return Target{}, fail(key, "is not supported by kuma-agent (use client certificates or a token)")
		}
	}
	dir := filepath.Dir(name)
	var perr error
	pem := func(key, data, file string, required bool) []byte {
		if perr != nil {
			return nil
		}
		switch {
		case data != "" && file != "":
			perr = fail(key+"-data", "and %s are both set: use one", key[strings.LastIndex(key, ".")+1:])
		case data != "":
			b, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				perr = fail(key+"-data", "not base64: %v", err)
				return nil
			}
			if !strings.Contains(string(b), "-----BEGIN ") {
				perr = fail(key+"-data", "does not hold PEM data")
				return nil
			}
			return b
		case file != "":
			if !filepath.IsAbs(file) {
				file = filepath.Join(dir, file)
			}
			b, err := readFile(file)
			if err != nil {
				perr = fail(key, "%v", err)
				return nil
			}
			return b
		case required:
			perr = fail(key+"-data", "missing")
		}
		return nil
	}
	t.CAPEM = pem(ckey+".certificate-authority", c.CertificateAuthorityData, c.CertificateAuthority, true)
	t.CertPEM = pem(ukey+".client-certificate", u.ClientCertificateData, u.ClientCertificate, false)
	t.KeyPEM = pem(ukey+".client-key", u.ClientKeyData, u.ClientKey, false)
	if perr != nil {
		return Target{}, perr
	}
	if (t.CertPEM == nil) != (t.KeyPEM == nil) {
		return Target{}, fail(ukey, "has a client certificate without its key, or a key without its certificate")
	}
	t.Token = u.Token
	if u.TokenFile != "" {
		if t.Token != "" {
			return Target{}, fail(ukey+".tokenFile", "and token are both set: use one")
		}
		b, err := readFile(u.TokenFile)
		if err != nil {
			return Target{}, fail(ukey+".tokenFile", "%v", err)
		}
		t.Token = strings.TrimSpace(string(b))
	}
	if t.CertPEM == nil && t.Token == "" {
		return Target{}, fail(ukey, "has no credentials: client-certificate-data/client-key-data or token")
	}
	if strings.ContainsAny(t.Token, "\r\n") {
		return Target{}, fail(ukey+".token", "holds a line break")
	}
	return t, nil
}
