// Package control is the agent's local control channel: a unix socket that
// only root (and the agent's own user) may use, carrying one JSON request
// and one JSON response per connection. The CLI's members, leave, keyring
// and doctor --cluster commands go through it; nothing on it executes
// commands, and it is never reachable from the network.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// MaxMessage bounds a request or a response line.
const MaxMessage = 4 << 20

// Request is what the CLI sends.
type Request struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Response is what the agent answers.
type Response struct {
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Handler serves one operation. args may be empty.
type Handler func(ctx context.Context, args json.RawMessage) (any, error)

// Server accepts control connections.
type Server struct {
	path     string
	ln       *net.UnixListener
	handlers map[string]Handler
	log      *slog.Logger
	// allowed reports whether a peer uid may talk to the agent.
	allowed func(uid uint32) bool
	wg      sync.WaitGroup
	timeout time.Duration
	// opTimeouts are the operations allowed longer than timeout.
	opTimeouts map[string]time.Duration
}

// SetOpTimeout lets op run for d instead of the default 30 s (a Raft
// recovery waits for units to stop and start on every node). Call it
// before Serve.
func (s *Server) SetOpTimeout(op string, d time.Duration) {
	if s.opTimeouts == nil {
		s.opTimeouts = map[string]time.Duration{}
	}
	s.opTimeouts[op] = d
}

// Listen creates the socket at path with mode 0600 inside a directory that
// is created 0700 if missing. A stale socket left by a crashed agent is
// replaced; a live one (another agent answers) is an error.
func Listen(path string, handlers map[string]Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket; remove it", path)
		}
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another agent is running", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: remove stale socket: %w", path, err)
		}
	}
	// The umask makes the socket 0600 from birth: no window in which
	// another user could connect before a chmod.
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	euid := uint32(os.Geteuid())
	return &Server{path: path, ln: ln, handlers: handlers, log: log, timeout: 30 * time.Second,
		allowed: func(uid uint32) bool { return uid == 0 || uid == euid }}, nil
}

// Path is where the socket lives.
func (s *Server) Path() string { return s.path }

// Serve accepts connections until ctx is done or accepting fails, then
// closes the listener, waits for running requests and removes the socket.
func (s *Server) Serve(ctx context.Context) error {
	// Closing the listener is what ends a blocked Accept when ctx ends.
	// AfterFunc leaves no goroutine behind when Serve returns on an accept
	// error instead (stop unregisters it).
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer func() {
		stop()
		s.ln.Close()
		s.wg.Wait()
		os.Remove(s.path)
	}()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("control socket: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(s.timeout))
	if uid, err := peerUID(c); err != nil || !s.allowed(uid) {
		s.log.Warn("control connection refused", "uid", uid, "err", err)
		writeResponse(c, Response{Error: "permission denied: the control socket is for root"})
		return
	}
	r := bufio.NewReader(io.LimitReader(c, MaxMessage))
	line, err := r.ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		writeResponse(c, Response{Error: fmt.Sprintf("read request: %v", err)})
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		writeResponse(c, Response{Error: fmt.Sprintf("malformed request: %v", err)})
		return
	}
	h, ok := s.handlers[req.Op]
	if !ok {
		writeResponse(c, Response{Error: fmt.Sprintf("unknown operation %q", req.Op)})
		return
	}
	timeout := s.timeout
	if d, ok := s.opTimeouts[req.Op]; ok {
		timeout = d
		_ = c.SetDeadline(time.Now().Add(d))
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	data, err := h(ctx, req.Args)
	if err != nil {
		writeResponse(c, Response{Error: err.Error()})
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		writeResponse(c, Response{Error: fmt.Sprintf("encode response: %v", err)})
		return
	}
	writeResponse(c, Response{Data: b})
}

func writeResponse(w io.Writer, r Response) {
	b, _ := json.Marshal(r)
	_, _ = w.Write(append(b, '\n'))
}

func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	return cred.Uid, nil
}

// ErrNoAgent means nothing listens on the socket: the agent is not running.
var ErrNoAgent = errors.New("the kuma-agent daemon is not running (start it: systemctl start kuma-agent)")

// Call sends one request to the agent at path and decodes the answer's
// data into out (which may be nil).
func Call(ctx context.Context, path, op string, args, out any) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%s: %w", path, ErrNoAgent)
		}
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	req := Request{Op: op}
	if args != nil {
		if req.Args, err = json.Marshal(args); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(req)
	_, werr := c.Write(append(b, '\n'))
	// Even if the write failed, the agent may have answered and closed
	// first (a refusal is sent before the request is read): read it.
	line, err := bufio.NewReader(io.LimitReader(c, MaxMessage)).ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		if werr != nil {
			return fmt.Errorf("control socket %s: %w", path, werr)
		}
		return fmt.Errorf("control socket %s: read answer: %w", path, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("control socket %s: malformed answer: %w", path, err)
	}
	if resp.Error != "" {
		return fmt.Errorf("agent: %s", resp.Error)
	}
	if out != nil && len(resp.Data) > 0 {
		if err := json.Unmarshal(resp.Data, out); err != nil {
			return fmt.Errorf("control socket %s: decode %s answer: %w", path, op, err)
		}
	}
	return nil
}
