package netlab

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setLink sets the switch's port for host i up or down with one ioctl from
// this process. The cut is the instant a detection figure measures from:
// an `ip link set` child costs a fork and an exec first, which on the
// lab's two cores shared by 50 agents took a measurable, varying part of a
// second before the link went down.
func (l *Lab) setLink(i int, up bool) error {
	l.check(i)
	port := l.port(i)
	return inNamespace(l.switchNS(), func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("netlab: socket in the switch: %w", err)
		}
		defer unix.Close(fd)
		ifr, err := unix.NewIfreq(port)
		if err != nil {
			return fmt.Errorf("netlab: port %s: %w", port, err)
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
			return fmt.Errorf("netlab: flags of %s: %w", port, err)
		}
		flags, state := ifr.Uint16()&^unix.IFF_UP, "down"
		if up {
			flags, state = flags|unix.IFF_UP, "up"
		}
		ifr.SetUint16(flags)
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
			return fmt.Errorf("netlab: set %s %s: %w", port, state, err)
		}
		return nil
	})
}
