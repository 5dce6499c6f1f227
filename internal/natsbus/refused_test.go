package natsbus

import (
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
)

// With no stream listening (as while a stream has no leader), the publish fails at once
// with "no response from stream" and says it was certainly not stored.
func TestPublishWithoutStreamIsRefused(t *testing.T) {
	s := startTestServer(t, ServerOptions{Name: "a"})
	pub, err := NewAsyncPublisher(connectUnbuffered(t, s.ClientURL()), 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := pub.PublishAsync(testEvent(t, "prod", "core-1", events.CheckStatusChanged, 1, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(ctxT(t, 10*time.Second)); err == nil {
		t.Fatal("publish without a stream was acknowledged")
	}
	if !a.Refused() {
		t.Fatal("a no-responders failure is not Refused")
	}
}
