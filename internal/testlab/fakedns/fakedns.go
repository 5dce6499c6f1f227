// Package fakedns is a minimal authoritative DNS responder on a loopback
// UDP socket: A and AAAA answers from a table, NXDOMAIN for names it does
// not hold. Tests point a real net.Resolver at it (Resolver), so the DNS
// check is exercised through Go's own resolver, not a stub.
package fakedns

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"

	"golang.org/x/net/dns/dnsmessage"
)

// Server answers queries on one UDP socket.
type Server struct {
	conn *net.UDPConn
	mu   sync.Mutex
	recs map[string][]netip.Addr // lower-case name without the trailing dot
	wg   sync.WaitGroup
}

// Listen binds 127.0.0.1:0 and serves records (name -> addresses).
func Listen(records map[string][]netip.Addr) (*Server, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	s := &Server{conn: c, recs: map[string][]netip.Addr{}}
	for n, a := range records {
		s.recs[strings.ToLower(strings.TrimSuffix(n, "."))] = a
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the bound "host:port".
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// Close stops the server and waits for it.
func (s *Server) Close() error {
	err := s.conn.Close()
	s.wg.Wait()
	return err
}

// Resolver is Go's own resolver, asking only this server.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.Addr())
	}}
}

func (s *Server) serve() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if out, ok := s.answer(buf[:n]); ok {
			// A lost answer is a client timeout, which the test sees.
			_, _ = s.conn.WriteToUDP(out, from)
		}
	}
}

func (s *Server) answer(q []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil, false
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return nil, false
	}
	question := qs[0]
	name := strings.ToLower(strings.TrimSuffix(question.Name.String(), "."))
	s.mu.Lock()
	addrs, found := s.recs[name]
	s.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !found {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(question) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	rrh := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 1}
	for _, a := range addrs {
		switch {
		case question.Type == dnsmessage.TypeA && a.Is4():
			if b.AResource(rrh, dnsmessage.AResource{A: a.As4()}) != nil {
				return nil, false
			}
		case question.Type == dnsmessage.TypeAAAA && a.Is6() && !a.Is4In6():
			if b.AAAAResource(rrh, dnsmessage.AAAAResource{AAAA: a.As16()}) != nil {
				return nil, false
			}
		}
	}
	out, err := b.Finish()
	return out, err == nil
}
