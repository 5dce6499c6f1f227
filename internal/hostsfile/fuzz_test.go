package hostsfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("127.0.0.1 localhost\n::1 localhost ip6-localhost\n"))
	f.Add([]byte("fe80::1%eth0\tlink\n10.0.0.1\n#c\n\n300.0.0.1 x\n"))
	f.Add([]byte("10.0.0.1 a#b c\r\n::ffff:10.0.0.1 mapped\n"))
	// The inventories' addresses, as a hosts file generated from them would hold.
	if data, err := os.ReadFile(filepath.Join("..", "inventory", "testdata", "inventories", "acura-ha_env_file")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hf, err := Parse("fuzz", bytes.NewReader(data))
		if err != nil {
			if len(data) <= MaxFileSize {
				t.Fatalf("Parse failed on %d bytes: %v", len(data), err)
			}
			return
		}
		for _, e := range hf.Entries {
			if !e.IP.IsValid() {
				t.Fatalf("entry on line %d has invalid IP", e.Line)
			}
			if len(e.Names) == 0 {
				t.Fatalf("entry on line %d has no names", e.Line)
			}
			for _, n := range e.Names {
				if n == "" || bytes.ContainsAny([]byte(n), " \t\r\n#") {
					t.Fatalf("entry on line %d has bad name %q", e.Line, n)
				}
				if len(hf.Lookup(n)) == 0 {
					t.Fatalf("Lookup(%q) finds nothing although line %d maps it", n, e.Line)
				}
			}
			if e.Line < 1 {
				t.Fatalf("entry line %d", e.Line)
			}
		}
		for _, p := range hf.Problems {
			if p.Line < 1 || p.Msg == "" {
				t.Fatalf("bad problem %+v", p)
			}
		}
	})
}
