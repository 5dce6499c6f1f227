package checks

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// Socket states of /proc/net/{tcp,udp} (include/net/tcp_states.h).
const (
	StateListen uint8 = 0x0A // TCP_LISTEN
	StateClose  uint8 = 0x07 // TCP_CLOSE: how the kernel shows a bound, unconnected UDP socket
)

// Socket is one row of /proc/net/{tcp,tcp6,udp,udp6}.
type Socket struct {
	Proto cluster.Proto
	Local netip.AddrPort
	State uint8
	Inode uint64
}

// Listening reports whether the socket accepts traffic on its local port:
// a TCP socket in LISTEN, or any bound UDP socket (UDP has no listen state,
// and a connected UDP socket still receives on its port).
func (s Socket) Listening() bool {
	if s.Proto == cluster.UDP {
		return true
	}
	return s.State == StateListen
}

// procNetFiles are read in this order; the proto is what the row means.
var procNetFiles = []struct {
	name  string
	proto cluster.Proto
}{
	{"tcp", cluster.TCP}, {"tcp6", cluster.TCP}, {"udp", cluster.UDP}, {"udp6", cluster.UDP},
}

// maxProcNetSize caps one /proc/net file: a busy host has tens of thousands
// of sockets (150 bytes a row); anything far beyond is not /proc.
const maxProcNetSize = 64 << 20

// ReadSockets reads the socket tables under procDir/net. A missing tcp6 or
// udp6 (IPv6 disabled) is not an error; all four missing is.
func ReadSockets(procDir string) ([]Socket, error) {
	var out []Socket
	found := 0
	for _, f := range procNetFiles {
		path := filepath.Join(procDir, "net", f.name)
		data, err := readCapped(path, maxProcNetSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found++
		socks, err := ParseSockets(data, f.proto)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, socks...)
	}
	if found == 0 {
		return nil, fmt.Errorf("no socket tables in %s: %w", filepath.Join(procDir, "net"), fs.ErrNotExist)
	}
	return out, nil
}

func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// /proc files report size 0, so read until EOF rather than trusting Stat.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, limit)
	}
	return data, nil
}

// ParseSockets parses the content of one /proc/net/{tcp,tcp6,udp,udp6}
// file. The first line is a header; each row is
// "sl: local remote st tx:rx tr:when retrnsmt uid timeout inode ...".
func ParseSockets(data []byte, proto cluster.Proto) ([]Socket, error) {
	var out []Socket
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 512), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue // header
		}
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		s, err := parseSocketRow(text, proto)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, nil
}

func parseSocketRow(text string, proto cluster.Proto) (Socket, error) {
	f := strings.Fields(text)
	// sl, local, remote, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode
	if len(f) < 10 {
		return Socket{}, fmt.Errorf("%d fields, want at least 10", len(f))
	}
	local, err := parseHexAddrPort(f[1])
	if err != nil {
		return Socket{}, fmt.Errorf("local address %q: %w", f[1], err)
	}
	st, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil {
		return Socket{}, fmt.Errorf("state %q: %w", f[3], err)
	}
	inode, err := strconv.ParseUint(f[9], 10, 64)
	if err != nil {
		return Socket{}, fmt.Errorf("inode %q: %w", f[9], err)
	}
	return Socket{Proto: proto, Local: local, State: uint8(st), Inode: inode}, nil
}

// parseHexAddrPort decodes "0100007F:0277". The kernel prints the address
// as 32-bit words in host byte order (so 127.0.0.1 is 0100007F on x86) and
// the port as a plain big-endian number.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, errors.New("no ':' between address and port")
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port: %w", err)
	}
	raw, err := hex.DecodeString(a)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address: %w", err)
	}
	if len(raw) != 4 && len(raw) != 16 {
		return netip.AddrPort{}, fmt.Errorf("address has %d bytes, want 4 or 16", len(raw))
	}
	// Undo host byte order word by word.
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// Process is the owner of a socket.
type Process struct {
	PID  int
	Comm string
}

func (p Process) String() string { return fmt.Sprintf("%s (pid %d)", p.Comm, p.PID) }

// SocketOwners maps the wanted socket inodes to the processes holding them
// by scanning procDir/<pid>/fd. It is best effort: processes that vanish or
// whose fd directory we may not read are skipped, so an inode can stay
// unmapped. The scan stops once every wanted inode is found.
func SocketOwners(procDir string, want map[uint64]bool) map[uint64]Process {
	out := map[uint64]Process{}
	if len(want) == 0 {
		return out
	}
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join(procDir, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			inode, ok := socketInode(link)
			if !ok || !want[inode] {
				continue
			}
			if _, seen := out[inode]; seen {
				continue // the first holder is enough (forked servers share sockets)
			}
			out[inode] = Process{PID: pid, Comm: readComm(procDir, e.Name())}
		}
		if len(out) == len(want) {
			break
		}
	}
	return out
}

// socketInode parses "socket:[12345]".
func socketInode(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func readComm(procDir, pid string) string {
	b, err := readCapped(filepath.Join(procDir, pid, "comm"), 256)
	if err != nil {
		return "?"
	}
	c := strings.TrimSpace(string(b))
	if c == "" {
		return "?"
	}
	return c
}
