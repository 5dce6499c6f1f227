package resolvconf

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	c := Parse("rc", []byte("# generated\nsearch a.lan b.lan\nnameserver 10.0.0.2 ; first\nnameserver fe80::1%eth0\nnameserver dns.lan\nnameserver\ndomain c.lan\noptions ndots:2\n"))
	if len(c.Nameservers) != 2 || c.Nameservers[0].String() != "10.0.0.2" || c.Nameservers[1].String() != "fe80::1%eth0" {
		t.Errorf("nameservers %v", c.Nameservers)
	}
	if len(c.Search) != 1 || c.Search[0] != "c.lan" {
		t.Errorf("search %v (the last of search/domain wins)", c.Search)
	}
	if len(c.Problems) != 2 || !strings.HasPrefix(c.Problems[0], "rc:5: nameserver \"dns.lan\"") || !strings.HasPrefix(c.Problems[1], "rc:6:") {
		t.Errorf("problems %q", c.Problems)
	}
	if s := c.String(); s != "nameserver 10.0.0.2, fe80::1%eth0 (search c.lan) from rc" {
		t.Errorf("String %q", s)
	}
	if s := Parse("e", nil).String(); !strings.Contains(s, "no nameserver in e") {
		t.Errorf("empty: %q", s)
	}
}

func TestReadFileRefusesWhatIsNoConfig(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFO: ", err)
	}
	if _, err := ReadFile(fifo); err == nil {
		t.Error("a FIFO was read")
	}
	if _, err := ReadFile(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing file read")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("nameserver 10.0.0.2\nsearch a b\n"))
	f.Add([]byte("nameserver ::1%lo\n;x\n#y\ndomain\nnameserver 999.1.1.1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Parse("f", data)
		if len(c.Nameservers) > maxKept || len(c.Search) > maxKept || len(c.Problems) > maxKept {
			t.Fatalf("unbounded: %d %d %d", len(c.Nameservers), len(c.Search), len(c.Problems))
		}
		for _, a := range c.Nameservers {
			if !a.IsValid() {
				t.Fatal("invalid nameserver kept")
			}
		}
		_ = c.String()
	})
}
