package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// healthReply is the body of GET /health. The real Core's health format is unverified;
// this shape is what the agent's checks are written against in tests.
type healthReply struct {
	Status string    `json:"status"` // "ok", or "unavailable" when out of the cluster
	ID     string    `json:"id"`
	Raft   raftReply `json:"raft"`
}

type raftReply struct {
	State  string `json:"state"`  // leader, follower or out
	Leader string `json:"leader"` // HOST:PORT of the leader, "" when out or unknown
}

// ServeHTTP answers GET /health and GET / in the control directory's health format
// (json by default: always 200, the state in the body; json503: 503 when out).
func (c *core) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/health" {
		http.NotFound(w, r)
		return
	}
	// A hung Core accepts the connection but never answers; hold the request until the
	// fault goes away or the client gives up.
	for c.isHung() {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(pollInterval):
		}
	}
	state, leader, format := c.raftStatus()
	switch format {
	case format404:
		http.NotFound(w, r)
		return
	case formatText:
		w.Header().Set("Content-Type", "text/plain")
		_, _ = fmt.Fprintf(w, "raft_state=%s\n", state)
		return
	}
	reply := healthReply{Status: "ok", ID: c.cfg.id, Raft: raftReply{State: state, Leader: leader}}
	code := http.StatusOK
	if state == stateOut {
		reply.Status = "unavailable"
		if format == formatJSON503 {
			code = http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(reply)
}
