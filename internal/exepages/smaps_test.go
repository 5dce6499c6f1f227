package exepages

import (
	"strings"
	"testing"
)

// sampleSmaps is a static Go binary's regions as Linux 6.18 prints them,
// cut to the lines that matter and one that does not.
const sampleSmaps = `00400000-010a8000 r-xp 00000000 fe:00 9986394                            /opt/kuma-agent/bin/kuma-agent
Size:              13984 kB
Rss:               11680 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd ex mr mw me
010a8000-01d22000 r--p 00ca8000 fe:00 9986394                            /opt/kuma-agent/bin/kuma-agent
Rss:               12072 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd mr mw me
01d22000-01d9b000 rw-p 01922000 fe:00 9986394                            /opt/kuma-agent/bin/kuma-agent
Rss:                 420 kB
Anonymous:           300 kB
Swap:                  0 kB
VmFlags: rd wr mr mw me ac
01d9b000-03de2000 rw-p 00000000 00:00 0 
Rss:                 208 kB
Anonymous:           208 kB
Swap:                  0 kB
7ffd1c3d2000-7ffd1c3f3000 rw-p 00000000 00:00 0                          [stack]
Rss:                  16 kB
Anonymous:            16 kB
Swap:                  0 kB
`

func TestParseSmaps(t *testing.T) {
	maps, err := ParseSmaps(strings.NewReader(sampleSmaps))
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 5 {
		t.Fatalf("got %d regions, want 5: %+v", len(maps), maps)
	}
	text := maps[0]
	want := Mapping{Start: 0x400000, End: 0x10a8000, Perms: "r-xp", Dev: "fe:00", Inode: 9986394,
		Path: "/opt/kuma-agent/bin/kuma-agent", RSSKiB: 11680, HasAnonymous: true, HasSwap: true}
	if text != want {
		t.Errorf("text region = %+v, want %+v", text, want)
	}
	if maps[2].AnonymousKiB != 300 || maps[2].Perms != "rw-p" {
		t.Errorf("data region = %+v, want rw-p with 300 kB anonymous", maps[2])
	}
	if maps[3].Path != "" || maps[3].Inode != 0 {
		t.Errorf("anonymous region = %+v, want no path and inode 0", maps[3])
	}
	if maps[4].Path != "[stack]" {
		t.Errorf("stack region path = %q", maps[4].Path)
	}
}

// A path with spaces, runs of them kept (and the " (deleted)" the kernel
// appends once a package upgrade replaced the file), is kept whole; a tab
// separates like a space; VmFlags "lo" marks a locked region.
func TestParseSmapsPathsAndFlags(t *testing.T) {
	maps, err := ParseSmaps(strings.NewReader("00400000-00401000 r-xp 00000000 fe:00 12    /opt/k  a/kuma-agent (deleted)\nRss: 4 kB\nVmFlags: rd ex lo\n" +
		"00401000-00402000\tr--p 00000000 fe:00 12\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := maps[0].Path; got != "/opt/k  a/kuma-agent (deleted)" {
		t.Errorf("path = %q", got)
	}
	if !maps[0].Locked || maps[1].Locked {
		t.Errorf("locked = %v, %v; want true, false", maps[0].Locked, maps[1].Locked)
	}
	if maps[1].Perms != "r--p" || maps[1].Path != "" {
		t.Errorf("tab-separated header = %+v", maps[1])
	}
}

func TestParseSmapsErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"field before a region", "Rss: 4 kB\n", "line 1: \"Rss\" before any region"},
		{"no range", "00400000 r-xp 0 fe:00 1\n", "line 1: region \"00400000\": no start-end range"},
		{"bad start", "zz-00401000 r-xp 0 fe:00 1\n", "line 1: region start \"zz\""},
		{"bad end", "00400000-zz r-xp 0 fe:00 1\n", "line 1: region end \"zz\""},
		{"end before start", "00402000-00401000 r-xp 0 fe:00 1\n", "ends before it starts"},
		{"short header", "00400000-00401000 r-xp 0\n", "want start-end perms offset dev inode"},
		{"perms", "00400000-00401000 rx 0 fe:00 1\n", "region permissions \"rx\""},
		{"inode", "00400000-00401000 r-xp 0 fe:00 x\n", "region inode \"x\""},
		{"rss unit", "00400000-00401000 r-xp 0 fe:00 1\nRss: 4 MB\n", "line 2: Rss: size \"4 MB\": want a number of kB"},
		{"rss number", "00400000-00401000 r-xp 0 fe:00 1\nSize: 4 kB\nAnonymous: -1 kB\n", "line 3: Anonymous: size \"-1 kB\""},
		{"swap number", "00400000-00401000 r-xp 0 fe:00 1\nSwap: x kB\n", "line 2: Swap: size \"x kB\""},
		{"long line", "00400000-00401000 r-xp 0 fe:00 1 /" + strings.Repeat("a", 70<<10) + "\n", "line 1: bufio.Scanner: token too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSmaps(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// An input over smapsLimit is refused, not cut short: a region cut
// before its Anonymous and Swap lines would look clean.
func TestParseSmapsRefusesTooMuch(t *testing.T) {
	region := "00400000-00401000 r-xp 0 fe:00 1 /x\nRss: 4 kB\nAnonymous: 0 kB\nSwap: 0 kB\n"
	in := strings.Repeat(region, smapsLimit/len(region)+1)
	if _, err := ParseSmaps(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "more than 16777216 bytes") {
		t.Fatalf("err = %v", err)
	}
	in = strings.Repeat(region, smapsLimit/len(region))
	if maps, err := ParseSmaps(strings.NewReader(in)); err != nil || len(maps) != smapsLimit/len(region) {
		t.Fatalf("just under the limit: %d regions, %v", len(maps), err)
	}
}

// FuzzParseSmaps: never a panic; what parses is a region with an order
// and four permission letters; what does not is an error naming its line.
func FuzzParseSmaps(f *testing.F) {
	f.Add([]byte(sampleSmaps))
	f.Add([]byte("00400000-00401000 r-xp 0 fe:00 1 /x\nRss: 4 kB\nAnonymous: 0 kB\nSwap: 0 kB\n"))
	f.Add([]byte("00400000-00401000 r-xp 0 fe:00 1\n"))
	f.Add([]byte("00400000-00401000\tr-xp\t0\tfe:00\t1\t/a b\nVmFlags: rd lo\n"))
	f.Add([]byte("Rss: 4 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		maps, err := ParseSmaps(strings.NewReader(string(b)))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "smaps line ") {
				t.Fatalf("error %q does not name its line", err)
			}
			return
		}
		for _, m := range maps {
			if m.End < m.Start || len(m.Perms) != 4 {
				t.Fatalf("parsed an impossible region %+v", m)
			}
			if Clean(m) && (!m.HasAnonymous || !m.HasSwap) {
				t.Fatalf("clean without its Anonymous and Swap lines: %+v", m)
			}
		}
	})
}
