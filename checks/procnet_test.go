package checks

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

const procHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// The hex literals below are what an x86/arm64 kernel prints (host byte
// order words); a big-endian kernel prints them the other way round.
func skipBigEndian(t testing.TB) {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], 1)
	if b[0] != 1 {
		t.Skip("little-endian /proc samples on a big-endian host")
	}
}

var procTCP4 = procHeader +
	"   0: 00000000:1C2A 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 1111 1 0000000000000000 100 0 0 10 0\n" +
	"   1: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 100 0 0 10 0\n" +
	"   2: 0500000A:1C2A 0600000A:D431 01 00000000:00000000 00:00000000 00000000   999        0 3333 1 0000000000000000 20 4 30 10 -1\n"

var procTCP6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
	"   0: 00000000000000000000000000000000:2814 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0\n" +
	"   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 100 0 0 10 0\n" +
	"   2: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6666 1 0000000000000000 100 0 0 10 0\n"

var procUDP4 = procHeader +
	"  10: 00000000:CA6C 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 7777 2 0000000000000000 0\n"

func TestParseSockets(t *testing.T) {
	skipBigEndian(t)
	tests := []struct {
		name  string
		data  string
		proto cluster.Proto
		want  []Socket
	}{
		{"tcp4", procTCP4, cluster.TCP, []Socket{
			{cluster.TCP, netip.MustParseAddrPort("0.0.0.0:7210"), StateListen, 1111},
			{cluster.TCP, netip.MustParseAddrPort("127.0.0.1:631"), StateListen, 2222},
			{cluster.TCP, netip.MustParseAddrPort("10.0.0.5:7210"), 0x01, 3333},
		}},
		{"tcp6", procTCP6, cluster.TCP, []Socket{
			{cluster.TCP, netip.MustParseAddrPort("[::]:10260"), StateListen, 4444},
			{cluster.TCP, netip.MustParseAddrPort("[::1]:8080"), StateListen, 5555},
			// v4-mapped addresses are unmapped so 127.0.0.1 compares as IPv4.
			{cluster.TCP, netip.MustParseAddrPort("127.0.0.1:8081"), StateListen, 6666},
		}},
		{"udp4", procUDP4, cluster.UDP, []Socket{
			{cluster.UDP, netip.MustParseAddrPort("0.0.0.0:51820"), StateClose, 7777},
		}},
		{"header only", procHeader, cluster.TCP, nil},
		{"empty", "", cluster.TCP, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSockets([]byte(tt.data), tt.proto)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d sockets %v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("socket %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseSocketsErrors(t *testing.T) {
	tests := []struct{ name, row, want string }{
		{"short", "0: 0100007F:0277 00000000:0000 0A", "line 2: 4 fields"},
		{"no colon", "0: 0100007F0277 00000000:0000 0A 0:0 0:0 0 0 0 1", "line 2: local address"},
		{"odd hex", "0: 0100007:0277 00000000:0000 0A 0:0 0:0 0 0 0 1", "line 2: local address"},
		{"bad length", "0: 01000000:0277 00000000:0000 0A 0:0 0:0 0 0 0 1\n1: 010000:0277 00000000:0000 0A 0:0 0:0 0 0 0 1", "line 3: local address"},
		{"big port", "0: 0100007F:10277 00000000:0000 0A 0:0 0:0 0 0 0 1", "line 2: local address"},
		{"state", "0: 0100007F:0277 00000000:0000 ZZ 0:0 0:0 0 0 0 1", "line 2: state"},
		{"inode", "0: 0100007F:0277 00000000:0000 0A 0:0 0:0 0 0 0 x", "line 2: inode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSockets([]byte(procHeader+tt.row+"\n"), cluster.TCP)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// fakeProc builds a /proc look-alike: net/* files and, per pid, a comm file
// and fd symlinks to the given link targets.
func fakeProc(t *testing.T, net map[string]string, procs map[int]fakeProcess) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "net"), 0o755))
	for name, content := range net {
		must(os.WriteFile(filepath.Join(dir, "net", name), []byte(content), 0o644))
	}
	for pid, p := range procs {
		pd := filepath.Join(dir, strconv.Itoa(pid))
		must(os.MkdirAll(filepath.Join(pd, "fd"), 0o755))
		must(os.WriteFile(filepath.Join(pd, "comm"), []byte(p.comm+"\n"), 0o644))
		for fd, link := range p.fds {
			must(os.Symlink(link, filepath.Join(pd, "fd", strconv.Itoa(fd))))
		}
	}
	// Noise the scanner must skip.
	must(os.MkdirAll(filepath.Join(dir, "sys"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "uptime"), []byte("1 1\n"), 0o644))
	return dir
}

type fakeProcess struct {
	comm string
	fds  []string
}

func TestReadSocketsAndOwners(t *testing.T) {
	skipBigEndian(t)
	dir := fakeProc(t,
		map[string]string{"tcp": procTCP4, "tcp6": procTCP6, "udp": procUDP4}, // no udp6: IPv6 off
		map[int]fakeProcess{
			100: {"kuma", []string{"/dev/null", "socket:[1111]", "pipe:[9]"}},
			200: {"nginx", []string{"socket:[4444]", "socket:[7777]"}},
			// A forked worker sharing the listener: the first holder is enough.
			201: {"nginx", []string{"socket:[4444]"}},
			300: {"sshd", []string{"socket:[]", "socket:[x]", "socket:[9999"}},
		})
	socks, err := ReadSockets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(socks), 7; got != want {
		t.Fatalf("read %d sockets, want %d: %v", got, want, socks)
	}
	owners := SocketOwners(dir, map[uint64]bool{1111: true, 4444: true, 7777: true, 2222: true})
	want := map[uint64]Process{1111: {100, "kuma"}, 4444: {200, "nginx"}, 7777: {200, "nginx"}}
	if len(owners) != len(want) {
		t.Fatalf("owners = %v, want %v", owners, want)
	}
	for ino, p := range want {
		if owners[ino] != p {
			t.Errorf("owner of %d = %v, want %v", ino, owners[ino], p)
		}
	}
}

func TestReadSocketsErrors(t *testing.T) {
	if _, err := ReadSockets(t.TempDir()); err == nil {
		t.Error("a dir without net/ tables: want error")
	}
	dir := fakeProc(t, map[string]string{"tcp": procHeader + "garbage\n"}, nil)
	_, err := ReadSockets(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "net", "tcp")+": line 2") {
		t.Errorf("err = %v, want file and line", err)
	}
}

// TestReadSocketsRealProc finds this test's own listener in the real /proc.
func TestReadSocketsRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	socks, err := ReadSockets("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found *Socket
	for i, s := range socks {
		if s.Proto == cluster.TCP && s.Local.Port() == port && s.State == StateListen {
			found = &socks[i]
		}
	}
	if found == nil {
		t.Fatalf("listener on 127.0.0.1:%d not in /proc/net/tcp", port)
	}
	if found.Local.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("local address = %v, want 127.0.0.1", found.Local.Addr())
	}
	owners := SocketOwners("/proc", map[uint64]bool{found.Inode: true})
	if got := owners[found.Inode].PID; got != os.Getpid() {
		t.Errorf("owner pid = %d, want this process %d", got, os.Getpid())
	}
}

func FuzzReadSockets(f *testing.F) {
	for _, s := range []string{procTCP4, procTCP6, procUDP4, procHeader, "", procHeader + "0: :\n"} {
		f.Add([]byte(s), false)
	}
	if b, err := os.ReadFile("/proc/net/tcp"); err == nil {
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, udp bool) {
		proto := cluster.TCP
		if udp {
			proto = cluster.UDP
		}
		socks, err := ParseSockets(data, proto)
		if err != nil {
			return
		}
		if rows := strings.Count(string(data), "\n") + 1; len(socks) > rows {
			t.Fatalf("%d sockets from %d lines", len(socks), rows)
		}
		for _, s := range socks {
			if s.Proto != proto || !s.Local.Addr().IsValid() {
				t.Fatalf("bad socket %+v", s)
			}
		}
	})
}
