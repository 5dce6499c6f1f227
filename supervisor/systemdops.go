package supervisor

import (
	"context"
	"errors"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// The unit operations of the Raft recoveries (`kuma-agent raft ...
// --execute`, internal/raftops): never the supervisor's own healing, which
// only starts units.

// Stop stops the unit ("replace" mode) and waits for the job; a unit
// that is not loaded is already stopped.
func (s *Systemd) Stop(ctx context.Context, unit string) error {
	err := s.job(ctx, "stop", unit, (*sdbus.Conn).StopUnitContext)
	if noSuchUnit(err) {
		return nil
	}
	return err
}

// Disable disables the unit's file (the symlinks of its [Install]
// section), persistently.
func (s *Systemd) Disable(ctx context.Context, unit string) error {
	return s.call(ctx, func(c *sdbus.Conn) error {
		_, err := c.DisableUnitFilesContext(ctx, []string{unit}, false)
		return err
	})
}

// Mask links the unit to /dev/null in /etc/systemd/system, persistently:
// how a unit whose file is the vendor's is removed without touching it.
func (s *Systemd) Mask(ctx context.Context, unit string) error {
	return s.call(ctx, func(c *sdbus.Conn) error {
		_, err := c.MaskUnitFilesContext(ctx, []string{unit}, false, false)
		return err
	})
}

// Reload is `systemctl daemon-reload`.
func (s *Systemd) Reload(ctx context.Context) error {
	return s.call(ctx, func(c *sdbus.Conn) error { return c.ReloadContext(ctx) })
}

func noSuchUnit(err error) bool {
	var de godbus.Error
	return errors.As(err, &de) && de.Name == "org.freedesktop.systemd1.NoSuchUnit"
}
