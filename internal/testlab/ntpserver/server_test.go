package ntpserver

import (
	"testing"
	"time"

	"github.com/beevik/ntp"
)

func TestServedSkewIsMeasured(t *testing.T) {
	s, err := Listen("127.0.0.1:0", 3*time.Second, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, skew := range []time.Duration{3 * time.Second, -250 * time.Millisecond} {
		s.SetSkew(skew)
		resp, err := ntp.QueryWithOptions(s.Addr(), ntp.QueryOptions{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := resp.Validate(); err != nil {
			t.Fatal(err)
		}
		if d := resp.ClockOffset - skew; d > 50*time.Millisecond || d < -50*time.Millisecond {
			t.Errorf("skew %v measured as %v", skew, resp.ClockOffset)
		}
	}
}

func TestStratumZeroIsRejectedByClients(t *testing.T) {
	s, err := Listen("127.0.0.1:0", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := ntp.QueryWithOptions(s.Addr(), ntp.QueryOptions{Timeout: time.Second})
	if err == nil && resp.Validate() == nil {
		t.Fatal("a stratum 0 answer validated")
	}
}
