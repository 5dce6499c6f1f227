package inventory

import (
	"os"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, path := range fixtureFiles(f) {
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
