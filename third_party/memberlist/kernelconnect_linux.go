// kuma-agent patch (third_party/README.md).

package memberlist

import (
	"errors"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// kernelConnect opens a TCP connection to addr ("ip:port") without Go's
// poller and reports how the handshake ended within budget, as the kernel
// saw it: a non-blocking connect(2), then poll(2) with the kernel keeping
// the timeout. If this process is descheduled meanwhile, the answer is
// read later but is the same (a handshake that completed in time is
// reported as connected), so a starved prober cannot make a live peer look
// silent. Anything it cannot decide is reported reachable (upstream's path).
func kernelConnect(addr string, budget time.Duration) unreachableKind {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return reachable
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ip := ap.Addr().Unmap(); ip.Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return reachable
	}
	defer unix.Close(fd)
	switch err := unix.Connect(fd, sa); {
	case err == nil:
		return reachable
	case errors.Is(err, unix.ECONNREFUSED):
		return unreachableRefused
	case errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.ENETUNREACH):
		return unreachableSilent
	case !errors.Is(err, unix.EINPROGRESS):
		return reachable
	}
	end := time.Now().Add(budget)
	for {
		ms := int(time.Until(end).Milliseconds())
		if ms < 0 {
			ms = 0 // one last look: did it complete meanwhile?
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return reachable
		}
		if n == 0 {
			if ms == 0 {
				return unreachableSilent
			}
			continue // woke early by the clock's rounding; look again
		}
		soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			return reachable
		case soErr == 0:
			return reachable
		case unix.Errno(soErr) == unix.ECONNREFUSED:
			return unreachableRefused
		default: // ETIMEDOUT, EHOSTUNREACH, ...
			return unreachableSilent
		}
	}
}
