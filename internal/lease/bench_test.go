package lease

import (
	"context"
	"testing"
)

// BenchmarkAcquireRenewRelease measures one lease cycle (three KV writes)
// against an embedded single JetStream server.
func BenchmarkAcquireRenewRelease(b *testing.B) {
	e := newEnv(b)
	m := e.manager(b, "node-a", func(o *Options) { o.OnEvent = nil })
	ctx := context.Background()
	for b.Loop() {
		l, err := m.Acquire(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Renew(ctx); err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcquireRefused measures a refused Acquire (Create, Get, verdict).
func BenchmarkAcquireRefused(b *testing.B) {
	e := newEnv(b)
	a, other := e.manager(b, "node-a"), e.manager(b, "node-b")
	ctx := context.Background()
	if _, err := a.Acquire(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := other.Acquire(ctx, "bench"); err == nil {
			b.Fatal("acquired a held lease")
		}
	}
}
