package kube

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func mkfifo(p string) error { return syscall.Mkfifo(p, 0o600) }

const pemCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

var b64 = base64.StdEncoding.EncodeToString

// adminConf is shaped like k0s's and kubeadm's admin.conf.
func adminConf(extra string) string {
	return `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: ` + b64([]byte(pemCA)) + `
contexts:
- name: admin@local
  context:
    cluster: local
    user: admin
current-context: admin@local
preferences: {}
users:
- name: admin
  user:
    client-certificate-data: ` + b64([]byte("-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n")) + `
    client-key-data: ` + b64([]byte("-----BEGIN EC PRIVATE KEY-----\nB\n-----END EC PRIVATE KEY-----\n")) + `
` + extra
}

func noFiles(string) ([]byte, error) { return nil, errors.New("no files in this test") }

func TestParseKubeconfigAdminConf(t *testing.T) {
	tg, err := ParseKubeconfig("/var/lib/k0s/pki/admin.conf", []byte(adminConf("")), noFiles)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Server != "https://127.0.0.1:6443" || string(tg.CAPEM) != pemCA || tg.CertPEM == nil || tg.KeyPEM == nil || tg.Token != "" {
		t.Fatalf("target: %+v", tg)
	}
}

func TestParseKubeconfigFilesAndToken(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte(pemCA), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := `clusters:
- name: c
  cluster: {server: "https://k:6443", certificate-authority: ca.crt}
users:
- name: u
  user: {tokenFile: ` + filepath.Join(dir, "token") + `}
contexts:
- name: x
  context: {cluster: c, user: u}
`
	tg, err := ParseKubeconfig(filepath.Join(dir, "kc"), []byte(conf), os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(tg.CAPEM) != pemCA || tg.Token != "abc" || tg.CertPEM != nil {
		t.Fatalf("target: %+v", tg)
	}
}

// Every mistake names the file, the line and the field.
func TestParseKubeconfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, conf, want string
	}{
		{"unknown key", adminConf("colour: red\n"), "colour"},
		{"no context", strings.Replace(adminConf(""), "current-context: admin@local", "current-context: other", 1), `current-context: names context "other"`},
		{"http server", strings.Replace(adminConf(""), "https://127.0.0.1:6443", "http://127.0.0.1:6443", 1), "clusters[0].cluster.server: must be an https:// URL"},
		{"insecure", strings.Replace(adminConf(""), "    server:", "    insecure-skip-tls-verify: true\n    server:", 1), "clusters[0].cluster.insecure-skip-tls-verify: is not supported"},
		{"exec", adminConf("    exec: {command: aws}\n"), "users[0].user.exec: is not supported"},
		{"bad base64", strings.Replace(adminConf(""), "certificate-authority-data: ", "certificate-authority-data: !!", 1), "clusters[0].cluster.certificate-authority-data"},
		{"no ca", strings.Replace(adminConf(""), "    certificate-authority-data:", "    x-certificate-authority-data:", 1), "x-certificate-authority-data"},
		{"no user", strings.Replace(adminConf(""), "    user: admin", "    user: nobody", 1), `contexts[0].context.user: names user "nobody"`},
		{"two docs", adminConf("---\nkind: Config\n"), "more than one YAML document"},
		{"empty", "", "empty kubeconfig"},
		{"wrong kind", strings.Replace(adminConf(""), "kind: Config", "kind: Pod", 1), "kind: must be Config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKubeconfig("/etc/kubernetes/admin.conf", []byte(tc.conf), noFiles)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "/etc/kubernetes/admin.conf") {
				t.Fatalf("err = %v, want it to name the file and say %q", err, tc.want)
			}
		})
	}
}

func TestLoadKubeconfigRefusesFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := mkfifo(p); err != nil {
		t.Skip("mkfifo:", err)
	}
	if _, err := LoadKubeconfig(p); err == nil || !strings.Contains(err.Error(), "regular") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseKubeconfig(f *testing.F) {
	f.Add([]byte(adminConf("")))
	f.Add([]byte("clusters: [{name: a, cluster: {server: 'https://x'}}]\ncontexts: [{name: c, context: {cluster: a, user: u}}]\nusers: [{name: u, user: {token: t}}]"))
	f.Add([]byte("a: &x [*x]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tg, err := ParseKubeconfig("fuzz.conf", data, noFiles)
		if err == nil && (!strings.HasPrefix(tg.Server, "https://") || tg.CAPEM == nil || (tg.CertPEM == nil && tg.Token == "")) {
			t.Fatalf("accepted an unusable kubeconfig: %+v", tg)
		}
	})
}
