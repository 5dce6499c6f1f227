package certfile

import (
	"strings"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/testlab/testpki"
)

func TestParsePEM(t *testing.T) {
	exp := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	one := testpki.CertPEM(t, "apiserver", exp)
	certs, err := ParsePEM("/pki/apiserver.crt", one)
	if err != nil || len(certs) != 1 {
		t.Fatalf("%v %v", certs, err)
	}
	c := certs[0]
	if !c.NotAfter.Equal(exp) || !strings.Contains(c.Subject, "CN=apiserver") || c.Name() != "/pki/apiserver.crt" {
		t.Fatalf("%+v", c)
	}

	// A bundle with a key between the certificates: both certificates,
	// each named by its block.
	bundle := append(append(append([]byte("header text\n"), one...), "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"...), testpki.CertPEM(t, "ca", exp)...)
	certs, err = ParsePEM("b.pem", bundle)
	if err != nil || len(certs) != 2 || certs[1].Where != "block 3" {
		t.Fatalf("%+v %v", certs, err)
	}

	for name, data := range map[string]string{
		"no PEM CERTIFICATE block":    "not a certificate",
		"without a well-formed block": "-----BEGIN CERTIFICATE-----\ngarbage",
		"PEM block 1":                 "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	} {
		_, err := ParsePEM("/x/bad.crt", []byte(data))
		if err == nil || !strings.Contains(err.Error(), "/x/bad.crt") || !strings.Contains(err.Error(), name) {
			t.Errorf("%q: error %v, want one naming the file and %q", data, err, name)
		}
	}
}

func TestParseKubeconfig(t *testing.T) {
	exp := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	data := testpki.Kubeconfig("kubernetes-admin", testpki.CertPEM(t, "kubernetes", exp.Add(time.Hour)), testpki.CertPEM(t, "kubernetes-admin", exp))
	k, err := ParseKubeconfig("/etc/kubernetes/admin.conf", data)
	if err != nil || len(k.Certs) != 2 {
		t.Fatalf("%+v %v", k, err)
	}
	u := k.Certs[1]
	if u.Where != "users[kubernetes-admin].client-certificate-data" || !u.NotAfter.Equal(exp) {
		t.Fatalf("%+v", u)
	}

	// k0s and kubelet kubeconfigs name files instead.
	k, err = ParseKubeconfig("/var/lib/k0s/pki/admin.conf", []byte(`clusters:
- name: k0s
  cluster: {certificate-authority: ca.crt}
users:
- name: admin
  user: {client-certificate: /var/lib/k0s/pki/admin.crt, client-key: admin.key}
`))
	if err != nil || len(k.Certs) != 0 || strings.Join(k.Files, ",") != "/var/lib/k0s/pki/ca.crt,/var/lib/k0s/pki/admin.crt" {
		t.Fatalf("%+v %v", k, err)
	}

	for want, data := range map[string]string{
		"not base64": "users:\n- name: a\n  user: {client-certificate-data: '%%%'}\n",
		"users[a].client-certificate-data: /etc/kubernetes/x.conf: no PEM": "users:\n- name: a\n  user: {client-certificate-data: aGVsbG8=}\n",
		"empty kubeconfig": "# nothing\n",
		"not a kubeconfig": "users: 3\n",
		"invalid YAML":     "users: [\n",
	} {
		_, err := ParseKubeconfig("/etc/kubernetes/x.conf", []byte(data))
		if err == nil || !strings.Contains(err.Error(), "/etc/kubernetes/x.conf") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one naming the file and %q", data, err, want)
		}
	}
}

func FuzzParsePEM(f *testing.F) {
	f.Add(testpki.CertPEM(f, "seed", time.Now().Add(time.Hour)))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParsePEM("f.pem", data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
		if err != nil && !strings.Contains(err.Error(), "f.pem") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

func FuzzParseKubeconfig(f *testing.F) {
	c := testpki.CertPEM(f, "seed", time.Now().Add(time.Hour))
	f.Add(testpki.Kubeconfig("admin", c, c))
	f.Add([]byte("users:\n- name: a\n  user: {client-certificate: a.crt}\n"))
	f.Add([]byte("clusters: [{cluster: {certificate-authority-data: '!!'}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKubeconfig("/k/f.conf", data)
		if err != nil {
			if !strings.Contains(err.Error(), "f.conf") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, c := range k.Certs {
			if c.File != "/k/f.conf" {
				t.Fatalf("cert from %q", c.File)
			}
		}
	})
}
