// Package component gives the daemon's subsystems one lifecycle shape, in
// the manner of k0s's component manager: each subsystem is a Component, a
// Manager starts an ordered list of them and stops them in reverse, and a
// failure while starting stops what already started. A subsystem that runs
// a loop also gets a Heartbeat, which its loop beats; the watchdog feeds
// systemd only while every heartbeat is fresh.
//
// One component:
//
//	stopped ──Start ok──> running ──Stop──> stopped
//	   └──Start error──> stopped (Start undid its own partial work; Stop is not called)
//
// The manager of c1..cn:
//
//	idle ──Start──> c1.Start ─ok─> c2.Start ─ok─> … cn.Start ─ok─> running ──Stop──> cn.Stop … c1.Stop ──> stopped
//	                                  │ error (or ctx done)
//	                                  └──> c1.Stop ──> Start returns the error ──> stopped
//
// Stop calls every started component's Stop, even after one failed, and
// returns their errors joined.
package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Component is one subsystem of the daemon.
type Component interface {
	// Name names the component in logs, errors and heartbeats.
	Name() string
	// Start brings the component up and returns once it is up; work that
	// goes on runs in goroutines the component owns until Stop. ctx bounds
	// the start only: a component does not stop when ctx ends, it stops
	// when Stop is called. A Start that fails undoes what it did.
	Start(ctx context.Context) error
	// Stop undoes Start and waits for the component's goroutines. It is
	// called once, and only after a successful Start.
	Stop() error
}

// Manager starts components in order and stops them in reverse.
type Manager struct {
	log  *slog.Logger
	list []Component

	mu      sync.Mutex
	started []Component // in start order
}

// NewManager manages cs, started in the order given. A nil log discards.
func NewManager(log *slog.Logger, cs ...Component) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{log: log, list: cs}
}

// Start starts every component in order. If one fails, or ctx ends
// between two starts, the components already started are stopped in
// reverse order and the error, naming the component, is returned.
func (m *Manager) Start(ctx context.Context) error {
	for _, c := range m.list {
		err := ctx.Err()
		if err == nil {
			t := time.Now()
			if err = c.Start(ctx); err == nil {
				m.mu.Lock()
				m.started = append(m.started, c)
				m.mu.Unlock()
				m.log.Debug("component started", "component", c.Name(), "took", time.Since(t))
				continue
			}
		}
		err = fmt.Errorf("start %s: %w", c.Name(), err)
		if serr := m.Stop(); serr != nil {
			m.log.Warn("stopping after a failed start", "err", serr)
		}
		return err
	}
	return nil
}

// Stop stops the started components in reverse order and returns their
// errors joined. Calling it again does nothing.
func (m *Manager) Stop() error {
	m.mu.Lock()
	started := m.started
	m.started = nil
	m.mu.Unlock()
	var errs []error
	for _, c := range slices.Backward(started) {
		t := time.Now()
		if err := c.Stop(); err != nil {
			m.log.Warn("component stopped with an error", "component", c.Name(), "err", err)
			errs = append(errs, fmt.Errorf("stop %s: %w", c.Name(), err))
			continue
		}
		m.log.Debug("component stopped", "component", c.Name(), "took", time.Since(t))
	}
	return errors.Join(errs...)
}

// Func is a Component made of functions; a nil function does nothing.
type Func struct {
	ID      string
	OnStart func(ctx context.Context) error
	OnStop  func() error
}

func (f Func) Name() string { return f.ID }

func (f Func) Start(ctx context.Context) error {
	if f.OnStart == nil {
		return nil
	}
	return f.OnStart(ctx)
}

func (f Func) Stop() error {
	if f.OnStop == nil {
		return nil
	}
	return f.OnStop()
}

// Loop is a Component that runs Run in a goroutine from Start until Stop:
// Stop cancels Run's context and waits for it to return. Run gets the
// values of Start's context but not its cancellation.
type Loop struct {
	ID  string
	Run func(ctx context.Context)

	cancel context.CancelFunc
	done   chan struct{}
}

func (l *Loop) Name() string { return l.ID }

func (l *Loop) Start(ctx context.Context) error {
	ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		l.Run(ctx)
	}()
	return nil
}

func (l *Loop) Stop() error {
	l.cancel()
	<-l.done
	return nil
}
