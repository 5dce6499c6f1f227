package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"

	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
	"github.com/kuma-agent/kuma-agent/internal/retry"
)

// Systemd is the backend over systemd's D-Bus API. Unit changes arrive as
// PropertiesChanged signals; a full re-read every Resync is only the safety
// net for signals dropped under load.
type Systemd struct {
	// Address is a D-Bus address; empty means the system bus. Tests point
	// it into a container: unix:path=/proc/<pid>/root/run/dbus/system_bus_socket.
	Address string
	Resync  time.Duration // default 30s
	Logger  *slog.Logger
}

var _ Backend = (*Systemd)(nil)

func (s *Systemd) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// dial opens and authenticates one raw bus connection.
func (s *Systemd) dial(ctx context.Context) (*godbus.Conn, error) {
	var c *godbus.Conn
	var err error
	if s.Address == "" {
		c, err = godbus.SystemBusPrivate(godbus.WithContext(ctx))
	} else {
		c, err = godbus.Dial(s.Address, godbus.WithContext(ctx))
	}
	if err != nil {
		return nil, err
	}
	if err := c.Auth(nil); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.Hello(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Connect opens a go-systemd connection to the configured bus.
func (s *Systemd) Connect(ctx context.Context) (*sdbus.Conn, error) {
	return sdbus.NewConnection(func() (*godbus.Conn, error) { return s.dial(ctx) })
}

// call runs fn on a fresh connection: the action methods are rare, and a
// connection of their own cannot be broken by the watcher's reconnects.
func (s *Systemd) call(ctx context.Context, fn func(*sdbus.Conn) error) error {
	c, err := s.Connect(ctx)
	if err != nil {
		return fmt.Errorf("systemd D-Bus %s: %w", s.busName(), err)
	}
	defer c.Close()
	return fn(c)
}

func (s *Systemd) busName() string {
	if s.Address == "" {
		return "system bus"
	}
	return s.Address
}

// State reads one unit.
func (s *Systemd) State(ctx context.Context, unit string) (UnitState, error) {
	var st UnitState
	err := s.call(ctx, func(c *sdbus.Conn) (err error) {
		st, err = readState(ctx, c, unit)
		return err
	})
	return st, err
}

// readState reads every property the supervisor needs in one call.
func readState(ctx context.Context, c *sdbus.Conn, unit string) (UnitState, error) {
	props, err := c.GetAllPropertiesContext(ctx, unit)
	if err != nil {
		return UnitState{}, fmt.Errorf("unit %s: %w", unit, err)
	}
	str := func(k string) string { v, _ := props[k].(string); return v }
	st := UnitState{Name: unit, LoadState: str("LoadState"), ActiveState: str("ActiveState"), SubState: str("SubState"),
		Result: str("Result"), UnitFileState: str("UnitFileState")}
	st.NRestarts, _ = props["NRestarts"].(uint32)
	if us, ok := props["StateChangeTimestamp"].(uint64); ok && us > 0 {
		st.Since = time.UnixMicro(int64(us))
	}
	if st.LoadState == "" || st.ActiveState == "" {
		return UnitState{}, fmt.Errorf("unit %s: systemd returned no LoadState/ActiveState", unit)
	}
	if isKUMAService(unit) && st.LoadState == "loaded" {
		st.Exec, st.ExecErr = readExecStart(ctx, c, unit)
	}
	return st, nil
}

// isKUMAService: the units whose ExecStart is a KUMA command line.
func isKUMAService(unit string) bool {
	return strings.HasPrefix(unit, "kuma-") && strings.HasSuffix(unit, ".service")
}

// readExecStart reads the Service interface's ExecStart property (D-Bus
// type a(sasbttttuii): path, argv, ignore-failure, timestamps, pid, exit
// code and status per command) and parses the first command's argv. A
// failure is a reason, never an error of the unit's state.
func readExecStart(ctx context.Context, c *sdbus.Conn, unit string) (*kumaunit.Exec, string) {
	p, err := c.GetServicePropertyContext(ctx, unit, "ExecStart")
	if err != nil {
		return nil, fmt.Sprintf("ExecStart of %s: %v", unit, err)
	}
	argv, err := execArgv(p.Value.Value())
	if err != nil {
		return nil, fmt.Sprintf("ExecStart of %s: %v", unit, err)
	}
	e, err := kumaunit.Parse(argv)
	if err != nil {
		return nil, fmt.Sprintf("ExecStart of %s: %v", unit, err)
	}
	return &e, ""
}

// execArgv takes the argv of the first command of an ExecStart value as
// godbus decodes a(sasbttttuii). A unit with several ExecStart= lines
// (Type=oneshot only) is read by its first.
func execArgv(v any) ([]string, error) {
	var first []any
	switch cmds := v.(type) {
	case [][]any:
		if len(cmds) == 0 {
			return nil, errors.New("no command")
		}
		first = cmds[0]
	case []any:
		if len(cmds) == 0 {
			return nil, errors.New("no command")
		}
		c, ok := cmds[0].([]any)
		if !ok {
			return nil, fmt.Errorf("unexpected command type %T", cmds[0])
		}
		first = c
	default:
		return nil, fmt.Errorf("unexpected value type %T", v)
	}
	if len(first) < 2 {
		return nil, fmt.Errorf("command has %d fields, want path and argv", len(first))
	}
	argv, ok := first[1].([]string)
	if !ok || len(argv) == 0 {
		return nil, fmt.Errorf("command argv is %T, not a non-empty string list", first[1])
	}
	return argv, nil
}

// ResetFailed clears the unit's failed state and start-limit counter. A
// unit that is not failed is not an error.
func (s *Systemd) ResetFailed(ctx context.Context, unit string) error {
	return s.call(ctx, func(c *sdbus.Conn) error {
		err := c.ResetFailedUnitContext(ctx, unit)
		if noSuchUnit(err) {
			return nil // never loaded, nothing to reset
		}
		return err
	})
}

// Start starts the unit ("replace" mode) and waits for the job's result.
func (s *Systemd) Start(ctx context.Context, unit string) error {
	return s.job(ctx, "start", unit, (*sdbus.Conn).StartUnitContext)
}

// Restart restarts the unit ("replace" mode) and waits for the job.
func (s *Systemd) Restart(ctx context.Context, unit string) error {
	return s.job(ctx, "restart", unit, (*sdbus.Conn).RestartUnitContext)
}

// job queues one systemd job on the unit and waits for its result.
func (s *Systemd) job(ctx context.Context, verb, unit string,
	queue func(*sdbus.Conn, context.Context, string, string, chan<- string) (int, error)) error {
	return s.call(ctx, func(c *sdbus.Conn) error {
		ch := make(chan string, 1)
		if _, err := queue(c, ctx, unit, "replace", ch); err != nil {
			return err
		}
		select {
		case r := <-ch:
			if r != "done" {
				return fmt.Errorf("%s job %s", verb, r)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// reconnectBackoff paces reconnecting to D-Bus after the connection broke.
var reconnectBackoff = retry.Backoff{Min: 200 * time.Millisecond, Max: 10 * time.Second}

// Watch implements Backend.
func (s *Systemd) Watch(ctx context.Context, match func(string) bool) (<-chan Update, error) {
	out := make(chan Update, 64)
	// The first connection is made here so that a wrong address is an
	// error at start, not a silent retry loop.
	c, err := s.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("systemd D-Bus %s: %w", s.busName(), err)
	}
	go func() {
		defer close(out)
		known := map[string]bool{}
		for {
			err := s.watchConn(ctx, c, match, known, out)
			c.Close()
			if ctx.Err() != nil {
				return
			}
			s.log().Warn("systemd D-Bus connection lost: units unknown until reconnected", "bus", s.busName(), "err", err)
			// Every unit seen is now unknown: no action until re-read.
			for _, u := range slices.Sorted(maps.Keys(known)) {
				if !send(ctx, out, Update{State: UnitState{Name: u}, Err: errors.New("D-Bus reconnecting")}) {
					return
				}
			}
			// A pause before the first attempt too: a connection that
			// breaks as soon as it is made must not spin.
			if !retry.Sleep(ctx, reconnectBackoff.Delay(0)) {
				return
			}
			if retry.Do(ctx, reconnectBackoff, func(ctx context.Context) (err error) {
				c, err = s.Connect(ctx)
				return err
			}, func(err error, wait time.Duration) {
				s.log().Warn("systemd D-Bus reconnect", "bus", s.busName(), "err", err, "retry_in", wait)
			}) != nil {
				return
			}
		}
	}()
	return out, nil
}

func send(ctx context.Context, out chan<- Update, u Update) bool {
	select {
	case out <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

// watchConn serves one connection until it breaks or ctx is done.
func (s *Systemd) watchConn(ctx context.Context, c *sdbus.Conn, match func(string) bool, known map[string]bool, out chan<- Update) error {
	// Signals come on a connection of our own: go-systemd v22.7's
	// subscriber reads its channel field without the lock its setter
	// takes (a data race -race found here), and it drops updates when full.
	sig, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("signal connection: %w", err)
	}
	defer sig.Close()
	if err := sig.AddMatchSignal(godbus.WithMatchSender("org.freedesktop.systemd1"),
		godbus.WithMatchInterface("org.freedesktop.DBus.Properties"), godbus.WithMatchMember("PropertiesChanged")); err != nil {
		return fmt.Errorf("add match: %w", err)
	}
	subscribe := func() error {
		return sig.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").
			CallWithContext(ctx, "org.freedesktop.systemd1.Manager.Subscribe", 0).Err
	}
	if err := subscribe(); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	signals := make(chan *godbus.Signal, 1024)
	sig.Signal(signals)
	defer sig.RemoveSignal(signals)
	resync := s.Resync
	if resync <= 0 {
		resync = 30 * time.Second
	}
	dirty := false
	snapshot := func() error {
		units, err := c.ListUnitsContext(ctx)
		if err != nil {
			return fmt.Errorf("list units: %w", err)
		}
		names := map[string]bool{}
		for _, u := range units {
			if match(u.Name) {
				names[u.Name] = true
			}
		}
		for u := range known { // also re-read units that were unloaded since
			names[u] = true
		}
		for _, u := range slices.Sorted(maps.Keys(names)) {
			ok, sent := s.emitState(ctx, c, u, known, out)
			if !sent {
				return ctx.Err()
			}
			dirty = dirty || !ok
		}
		return nil
	}
	if err := snapshot(); err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case sg, ok := <-signals:
			if !ok {
				return errors.New("signal connection closed")
			}
			unit, isUnit := unitOfSignal(sg)
			if !isUnit || !match(unit) {
				continue
			}
			ok, sent := s.emitState(ctx, c, unit, known, out)
			if !sent {
				return ctx.Err()
			}
			dirty = dirty || !ok
		case <-tick.C:
			if !c.Connected() || !sig.Connected() {
				return errors.New("connection closed")
			}
			// After a read error (systemd busy in daemon-reexec) re-read
			// everything and re-subscribe (idempotent) at the next tick.
			if dirty || time.Since(last) >= resync {
				last, dirty = time.Now(), false
				if err := subscribe(); err != nil {
					dirty = true
					continue
				}
				if err := snapshot(); err != nil {
					return err
				}
			}
		}
	}
}

// emitState reads and sends one unit; a read error is sent as Unknown
// (ok false). sent is false when ctx ended.
func (s *Systemd) emitState(ctx context.Context, c *sdbus.Conn, unit string, known map[string]bool, out chan<- Update) (ok, sent bool) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := readState(rctx, c, unit)
	cancel()
	known[unit] = true
	if err != nil {
		return false, send(ctx, out, Update{State: UnitState{Name: unit}, Err: err})
	}
	return true, send(ctx, out, Update{State: st})
}

// unitPathPrefix is where systemd puts unit objects.
const unitPathPrefix = "/org/freedesktop/systemd1/unit/"

// unitOfSignal names the unit a PropertiesChanged signal of the Unit
// interface is about.
func unitOfSignal(sg *godbus.Signal) (string, bool) {
	if sg.Name != "org.freedesktop.DBus.Properties.PropertiesChanged" || len(sg.Body) < 1 {
		return "", false
	}
	if iface, _ := sg.Body[0].(string); iface != "org.freedesktop.systemd1.Unit" {
		return "", false
	}
	p, ok := strings.CutPrefix(string(sg.Path), unitPathPrefix)
	if !ok {
		return "", false
	}
	return busUnescape(p), true
}

// busUnescape undoes systemd's object path escaping ("_2d" is "-").
func busUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '_' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
