// Package etcd reads etcd's own view of itself through its JSON gateway
// (HTTPS + JSON, the layout's client certificates; no gRPC and no
// go.etcd.io dependency): /health, the member list, each member's
// maintenance status, and removing a member by ID. Every response is
// size-capped and every request timed out; the decoders take etcd's
// uint64 IDs as decimal strings (the gateway's proto3 JSON) and never go
// through float64.
package etcd
