package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	vendor, err := filepath.Glob(filepath.Join(vendorDir, "*.inventory.yml"))
	if err != nil || len(vendor) == 0 {
		f.Fatalf("vendor examples: %v", err)
	}
	for _, path := range append(fixtureFiles(f), vendor...) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"[nodes]\nn1 ansible_ssh_host=1.2.3.4\n[nodes:vars]\na=b\n[all:children]\nnodes\n",
		"a: &a {children: {b: *a}}\n",
		"x: &x {hosts: {a.b: {<<: [*x]}}}\n",
		billionLaughs(4),
		k0sBase,
		"kuma_storage:\n  hosts:\n    s1.example.com\n    s2.example.com\nkuma_core:\n  hosts: c.example.com\n",
		"a:\n  children:\n    b:\n      children:\n        a:\n    c:\n      hosts:\n        h[1:3].x:2222: {ip: 0.0.0.0, ip: 1.2.3.4}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(c.Hosts) == 0 || c.Layout == "" || c.Source != "fuzz" {
			t.Fatalf("accepted cluster without hosts or layout: %+v", c)
		}
		for _, fd := range Validate(c) {
			if fd.Code == "" || fd.Message == "" {
				t.Fatalf("empty finding %+v", fd)
			}
		}
	})
}
