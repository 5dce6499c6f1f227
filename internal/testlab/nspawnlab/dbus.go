package nspawnlab

import (
	"context"
	"fmt"
	"os"
	"strconv"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// DialSystemd connects go-systemd's client to the system bus at busAddr
// (Host.DBusAddress). An explicit address, not DBUS_SYSTEM_BUS_ADDRESS,
// so that tests can talk to several containers at once. ctx bounds the
// dial only, not the connection's life.
func DialSystemd(ctx context.Context, busAddr string) (*sdbus.Conn, error) {
	return sdbus.NewConnection(func() (*godbus.Conn, error) {
		conn, err := godbus.Dial(busAddr)
		if err != nil {
			return nil, err
		}
		// Auth blocks while dbus.socket holds the connection for a daemon
		// that is still starting: closing is the only way to give up.
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		err = conn.Auth([]godbus.Auth{godbus.AuthExternal(strconv.Itoa(os.Getuid()))})
		if err == nil {
			err = conn.Hello()
		}
		if !stop() {
			conn.Close()
			return nil, fmt.Errorf("dial %s: %w", busAddr, ctx.Err())
		}
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("dial %s: %w", busAddr, err)
		}
		return conn, nil
	})
}
