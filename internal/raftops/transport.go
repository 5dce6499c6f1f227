package raftops

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/kuma-agent/kuma-agent/internal/events"
	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

// Serve answers the ops requests addressed to node on nc, one at a time
// (a second request waits: steps are never run concurrently on a node),
// until ctx ends. The sender is the subject's last token, which the
// servers let only that node's agent publish; handle gets it.
func Serve(ctx context.Context, nc *nats.Conn, cluster, node string, handle func(ctx context.Context, from string, data []byte) Reply) error {
	msgs := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(natsbus.OpsInbox(cluster, natsbus.OpsRequest, node), msgs)
	if err != nil {
		return fmt.Errorf("ops requests: %w", err)
	}
	go func() {
		defer sub.Unsubscribe()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-msgs:
				kind, _, from, ok := natsbus.ParseOpsSubject(cluster, m.Subject)
				if !ok || kind != natsbus.OpsRequest {
					continue // not an ops request: the subscription cannot deliver one
				}
				rep := handle(ctx, from, m.Data)
				b, err := json.Marshal(rep)
				if err != nil {
					continue
				}
				// The answer goes to the sender's ops inbox, as this node.
				_ = nc.Publish(natsbus.OpsSubject(cluster, natsbus.OpsReply, from, node), b)
			}
		}
	}()
	return nil
}

// Ask sends req to node to's agent as node self and waits for its answer
// (until ctx ends). Only an answer whose subject names to as its sender,
// for the same operation and step, is taken.
func Ask(ctx context.Context, nc *nats.Conn, cluster, self, to string, req Request) (Reply, error) {
	sub, err := nc.SubscribeSync(natsbus.OpsSubject(cluster, natsbus.OpsReply, self, to))
	if err != nil {
		return Reply{}, fmt.Errorf("ops answers: %w", err)
	}
	defer sub.Unsubscribe()
	b, err := json.Marshal(req)
	if err != nil {
		return Reply{}, err
	}
	// The subscription must be on the servers before the request leaves,
	// or a quick answer finds nobody.
	if err := nc.FlushWithContext(ctx); err != nil {
		return Reply{}, fmt.Errorf("ops answers: %w", err)
	}
	if err := nc.Publish(natsbus.OpsSubject(cluster, natsbus.OpsRequest, to, self), b); err != nil {
		return Reply{}, fmt.Errorf("ops request to %s: %w", to, err)
	}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return Reply{}, fmt.Errorf("waiting for %s's answer: %w", to, err)
		}
		if _, _, from, ok := natsbus.ParseOpsSubject(cluster, m.Subject); !ok || from != events.Token(to) {
			continue
		}
		rep, err := DecodeReply(m.Data)
		if err != nil {
			return Reply{}, fmt.Errorf("%s's answer: %w", to, err)
		}
		if rep.Operation == req.Operation && rep.Step == req.Step || rep.Operation == "" {
			return rep, nil // "" : a request it could not even decode
		}
	}
}
