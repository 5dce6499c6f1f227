// Package ntpserver is a minimal SNTP responder whose clock runs at an
// adjustable skew from the real one. Tests, the demo and the end-to-end
// runs use it to inject clock skew without touching the system clock.
package ntpserver

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server answers NTP client requests on one UDP socket.
type Server struct {
	conn    *net.UDPConn
	skew    atomic.Int64
	stratum atomic.Uint32
	wg      sync.WaitGroup
}

// Listen binds addr (e.g. "127.0.0.1:0") and starts serving with the given
// skew and stratum (2 is a typical server; 0 is a "kiss of death" answer
// that clients must reject).
func Listen(addr string, skew time.Duration, stratum uint8) (*Server, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	s := &Server{conn: c}
	s.skew.Store(int64(skew))
	s.stratum.Store(uint32(stratum))
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the bound address, "host:port".
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// SetSkew changes the served clock's offset from the real clock.
func (s *Server) SetSkew(d time.Duration) { s.skew.Store(int64(d)) }

// Close stops the server and waits for it.
func (s *Server) Close() error {
	err := s.conn.Close()
	s.wg.Wait()
	return err
}

func (s *Server) serve() {
	defer s.wg.Done()
	buf := make([]byte, 512)
	for {
		n, addr, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return // closed
		}
		if n < 48 {
			continue
		}
		resp := make([]byte, 48)
		resp[0] = 4<<3 | 4 // LI 0, version 4, mode 4 (server)
		resp[1] = byte(s.stratum.Load())
		resp[2] = 4                   // poll
		resp[3] = 0xEC                // precision 2^-20
		copy(resp[12:16], "FAKE")     // reference id
		copy(resp[24:32], buf[40:48]) // origin = the request's transmit time
		now := Stamp(time.Now().Add(time.Duration(s.skew.Load())))
		binary.BigEndian.PutUint64(resp[16:], now) // reference
		binary.BigEndian.PutUint64(resp[32:], now) // receive
		binary.BigEndian.PutUint64(resp[40:], now) // transmit
		_, _ = s.conn.WriteToUDP(resp, addr)
	}
}

// Stamp encodes t as a 64-bit NTP timestamp (seconds since 1900, 32.32).
func Stamp(t time.Time) uint64 {
	const epochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix() + epochOffset)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}
