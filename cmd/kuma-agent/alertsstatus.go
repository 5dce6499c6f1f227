package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kuma-agent/kuma-agent/internal/natsbus"
)

// consumerStatus is what `kuma-agent alerts --status` prints: where the
// subscriber's durable consumer lives (the server leading it is the one
// whose loss makes the durable path wait for an election) and how far
// behind it is.
type consumerStatus struct {
	Stream     string          `json:"stream"`
	Durable    string          `json:"durable"`
	Leader     string          `json:"leader"`
	Replicas   []replicaStatus `json:"replicas"`
	Pending    uint64          `json:"pending"`
	AckPending int             `json:"ack_pending"`
	Redelivery int             `json:"redelivered"`
}

type replicaStatus struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline"`
	Lag     uint64 `json:"lag"`
}

func printConsumerStatus(ctx context.Context, o stdio, js jetstream.JetStream, durable string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, natsbus.DefaultStreamName, durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return exitWith(1, fmt.Errorf("no durable consumer %s on %s yet: the subscriber makes it when it first runs", durable, natsbus.DefaultStreamName))
	}
	if err != nil {
		return fmt.Errorf("durable consumer %s: %w", durable, err)
	}
	ci, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("durable consumer %s: %w", durable, err)
	}
	st := consumerStatus{Stream: ci.Stream, Durable: ci.Name, Pending: ci.NumPending, AckPending: ci.NumAckPending,
		Redelivery: ci.NumRedelivered, Replicas: []replicaStatus{}}
	if ci.Cluster != nil {
		st.Leader = ci.Cluster.Leader
		for _, r := range ci.Cluster.Replicas {
			if r != nil {
				st.Replicas = append(st.Replicas, replicaStatus{Name: r.Name, Current: r.Current, Offline: r.Offline, Lag: r.Lag})
			}
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.out, "%s\n", b)
	return err
}
