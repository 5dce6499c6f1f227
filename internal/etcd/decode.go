package etcd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// U64 is a uint64 as etcd's gateway writes it: a decimal string ("ID":
// "12345678901234567890"); a bare number is read as its digits, never as
// a float (IDs above 2^53 would lose bits).
type U64 uint64

// UnmarshalJSON implements json.Unmarshaler.
func (u *U64) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	s := string(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		s = string(b[1 : len(b)-1])
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an unsigned 64-bit integer: %.40q", s)
	}
	*u = U64(v)
	return nil
}

// I64 is an int64 as the gateway writes it (a decimal string).
type I64 int64

// UnmarshalJSON implements json.Unmarshaler.
func (i *I64) UnmarshalJSON(b []byte) error {
	var u U64
	if err := u.UnmarshalJSON(b); err != nil {
		return err
	}
	if uint64(u) > 1<<63-1 {
		return errors.New("integer out of range")
	}
	*i = I64(u)
	return nil
}

// Header is etcd's response header.
type Header struct {
	ClusterID U64 `json:"cluster_id"`
	MemberID  U64 `json:"member_id"`
	Revision  I64 `json:"revision"`
	RaftTerm  U64 `json:"raft_term"`
}

// Member is one entry of the member list. A member added but never
// started has no name and no client URLs.
type Member struct {
	ID         U64      `json:"ID"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

// MemberList is /v3/cluster/member/list's answer.
type MemberList struct {
	Header  Header   `json:"header"`
	Members []Member `json:"members"`
}

// Status is /v3/maintenance/status's answer: one member's own report.
type Status struct {
	Header           Header   `json:"header"`
	Version          string   `json:"version"`
	DBSize           I64      `json:"dbSize"`
	DBSizeInUse      I64      `json:"dbSizeInUse"`
	Leader           U64      `json:"leader"`
	RaftIndex        U64      `json:"raftIndex"`
	RaftTerm         U64      `json:"raftTerm"`
	RaftAppliedIndex U64      `json:"raftAppliedIndex"`
	Errors           []string `json:"errors"`
	IsLearner        bool     `json:"isLearner"`
}

// Health is /health's answer. etcd 3.4 writes "true"/"false" as strings.
type Health struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// OK reports a healthy answer.
func (h Health) OK() bool { return h.Health == "true" }

// Caps on what a decoded answer may hold: a hostile or broken endpoint
// gets an error, not our memory.
const (
	maxMembers    = 128
	maxURLs       = 16
	maxText       = 512
	maxStatusErrs = 32
)

// gatewayError is the gateway's error body ({"error": ..., "code": N}).
type gatewayError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Code    int    `json:"code"`
}

// DecodeMemberList decodes and bounds a member list.
func DecodeMemberList(b []byte) (MemberList, error) {
	var ml MemberList
	if err := decodeStrict(b, &ml); err != nil {
		return MemberList{}, fmt.Errorf("member list: %w", err)
	}
	if ml.Members == nil {
		return MemberList{}, errors.New(`member list: no "members" in the answer`)
	}
	if len(ml.Members) > maxMembers {
		return MemberList{}, fmt.Errorf("member list: %d members, more than %d", len(ml.Members), maxMembers)
	}
	seen := map[U64]bool{}
	for i, m := range ml.Members {
		if m.ID == 0 {
			return MemberList{}, fmt.Errorf("member list: member %d has no ID", i)
		}
		if seen[m.ID] {
			return MemberList{}, fmt.Errorf("member list: ID %x listed twice", uint64(m.ID))
		}
		seen[m.ID] = true
		if len(m.Name) > maxText || len(m.PeerURLs) > maxURLs || len(m.ClientURLs) > maxURLs {
			return MemberList{}, fmt.Errorf("member list: member %x: name or URL list too long", uint64(m.ID))
		}
		for _, u := range slices.Concat(m.PeerURLs, m.ClientURLs) {
			if len(u) > maxText {
				return MemberList{}, fmt.Errorf("member list: member %x: URL too long", uint64(m.ID))
			}
		}
	}
	return ml, nil
}

// DecodeStatus decodes and bounds a maintenance status.
func DecodeStatus(b []byte) (Status, error) {
	var s Status
	if err := decodeStrict(b, &s); err != nil {
		return Status{}, fmt.Errorf("status: %w", err)
	}
	if s.Header.MemberID == 0 {
		return Status{}, errors.New("status: no member_id in the header")
	}
	if s.DBSize < 0 || s.DBSizeInUse < 0 {
		return Status{}, errors.New("status: negative database size")
	}
	if len(s.Errors) > maxStatusErrs {
		s.Errors = s.Errors[:maxStatusErrs]
	}
	for i, e := range s.Errors {
		if len(e) > maxText {
			s.Errors[i] = e[:maxText]
		}
	}
	if len(s.Version) > maxText {
		s.Version = s.Version[:maxText]
	}
	return s, nil
}

// DecodeHealth decodes /health.
func DecodeHealth(b []byte) (Health, error) {
	var h Health
	if err := decodeStrict(b, &h); err != nil {
		return Health{}, fmt.Errorf("health: %w", err)
	}
	if h.Health != "true" && h.Health != "false" {
		return Health{}, fmt.Errorf("health: %.40q is neither \"true\" nor \"false\"", h.Health)
	}
	if len(h.Reason) > maxText {
		h.Reason = h.Reason[:maxText]
	}
	return h, nil
}

// decodeStrict decodes one JSON object; unknown fields are allowed (newer
// etcd versions add some), trailing data is not.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
