package natsbus

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/testlab"
)

// TestExternalDebianServer runs publish and read against the nats-server
// Debian ships (2.9 on bookworm), which sites may run instead of the
// embedded one.
func TestExternalDebianServer(t *testing.T) {
	// Debian puts it in /usr/sbin; fails in CI, skips loudly elsewhere.
	bin := testlab.ToolPath(t, "nats-server")
	port := freePort(t)
	cmd := exec.Command(bin, "-js", "-p", fmt.Sprint(port), "-a", "127.0.0.1", "-sd", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	_, js := connectTest(t, fmt.Sprintf("nats://127.0.0.1:%d", port))
	ctx := ctxT(t, 30*time.Second)
	var err error
	eventually(t, 10*time.Second, "JetStream on the external server", func() bool {
		_, err = EnsureStream(ctx, js, StreamOptions{})
		return err == nil
	})
	var sent []events.Event
	for i := range 100 {
		typ := events.CheckStatusChanged
		if i%2 == 1 {
			typ = events.MemberFailed
		}
		e := testEvent(t, "prod", "core-1.example.com", typ, i, time.Now())
		if err := Publish(ctx, js, e); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// A re-send is deduplicated by the old server too.
			if err := Publish(ctx, js, e); err != nil {
				t.Fatal(err)
			}
		}
		sent = append(sent, e)
	}
	got := readAll(t, js, DefaultStreamName, Query{})
	if len(got) != len(sent) {
		t.Fatalf("read %d events, want %d", len(got), len(sent))
	}
	for i := range got {
		if got[i].ID != sent[i].ID {
			t.Fatalf("event %d: %s, want %s", i, got[i].ID, sent[i].ID)
		}
	}
	// One filter subject: old servers lack FilterSubjects.
	failed := readAll(t, js, DefaultStreamName, Query{Types: []events.Type{events.MemberFailed}})
	if len(failed) != 50 {
		t.Fatalf("read %d member.failed events, want 50", len(failed))
	}
}
