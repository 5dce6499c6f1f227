package certfile

import (
	"encoding/base64"
	"fmt"
	"path/filepath"

	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// kubeconfigOptions: a kubeconfig is small (a few KiB; an embedded CA
// bundle makes it tens), has no aliases, and holds many fields this reader
// does not need (decoded leniently, only the ones below).
var kubeconfigOptions = yamlstrict.Options{Kind: "kubeconfig", MaxBytes: 1 << 20, MaxNodes: 1 << 14, TopLevel: "kubeconfig fields (clusters, users, contexts)"}

type kubeconfig struct {
	Clusters []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			CAData string `yaml:"certificate-authority-data"`
			CAFile string `yaml:"certificate-authority"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			CertData string `yaml:"client-certificate-data"`
			CertFile string `yaml:"client-certificate"`
		} `yaml:"user"`
	} `yaml:"users"`
}

// Kubeconfig is what a kubeconfig holds of certificates: the embedded ones
// and the files it names (relative names resolved against its directory,
// as kubectl does).
type Kubeconfig struct {
	Certs []Cert
	Files []string
}

// ParseKubeconfig reads the certificates of a kubeconfig (file names it in
// errors): every base64 certificate-authority-data and
// client-certificate-data, and the client-certificate and
// certificate-authority files it names (returned, not read). Bad YAML, bad
// base64 or a bad embedded PEM is an error naming file and field.
func ParseKubeconfig(file string, data []byte) (Kubeconfig, error) {
	var k Kubeconfig
	doc, err := kubeconfigOptions.Parse(file, data)
	if err != nil {
		return k, err
	}
	if doc.Body == nil {
		return k, fmt.Errorf("%s: empty kubeconfig", file)
	}
	var kc kubeconfig
	if err := doc.Body.Decode(&kc); err != nil {
		return k, fmt.Errorf("%s: not a kubeconfig: %w", file, err)
	}
	embedded := func(where, b64 string) error {
		if b64 == "" {
			return nil
		}
		pemData, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return fmt.Errorf("%s: %s: not base64: %w", file, where, err)
		}
		certs, err := ParsePEM(file, pemData)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", file, where, err)
		}
		for i := range certs {
			if certs[i].Where == "" {
				certs[i].Where = where
			} else {
				certs[i].Where = where + " " + certs[i].Where
			}
		}
		k.Certs = append(k.Certs, certs...)
		return nil
	}
	named := func(p string) {
		if p == "" {
			return
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(file), p)
		}
		k.Files = append(k.Files, filepath.Clean(p))
	}
	for _, c := range kc.Clusters {
		if err := embedded("clusters["+clip(c.Name)+"].certificate-authority-data", c.Cluster.CAData); err != nil {
			return k, err
		}
		named(c.Cluster.CAFile)
	}
	for _, u := range kc.Users {
		if err := embedded("users["+clip(u.Name)+"].client-certificate-data", u.User.CertData); err != nil {
			return k, err
		}
		named(u.User.CertFile)
	}
	return k, nil
}

// ReadFile reads path through the pipeline's reader (regular files only,
// 1 MiB at most): the one way the certs check opens a file.
func ReadFile(path string) ([]byte, error) {
	return kubeconfigOptions.ReadFile(path)
}

// clip bounds a name from the file in a message (the renderers escape it).
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
