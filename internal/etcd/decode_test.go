package etcd

import (
	"strings"
	"testing"
)

// Real answers of etcd 3.4.23's gateway (etcdlab), trimmed.
const (
	realList   = `{"header":{"cluster_id":"17237436991929493444","member_id":"9372538179322589801","raft_term":"2"},"members":[{"ID":"9372538179322589801","name":"m1","peerURLs":["http://127.0.210.1:40001"],"clientURLs":["https://127.0.210.1:40000"]},{"ID":"18446744073709551615","name":"m2","peerURLs":["http://127.0.210.2:40003"],"clientURLs":["https://127.0.210.2:40002"]}]}`
	realStatus = `{"header":{"cluster_id":"17237436991929493444","member_id":"9372538179322589801","revision":"1","raft_term":"2"},"version":"3.4.23","dbSize":"20480","leader":"9372538179322589801","raftIndex":"8","raftTerm":"2","raftAppliedIndex":"8","dbSizeInUse":"16384"}`
)

func TestDecodeKeepsIDsAbove2To53(t *testing.T) {
	ml, err := DecodeMemberList([]byte(realList))
	if err != nil {
		t.Fatal(err)
	}
	if got := uint64(ml.Members[1].ID); got != 18446744073709551615 {
		t.Fatalf("ID %d, want 2^64-1 exactly", got)
	}
	if uint64(ml.Header.MemberID) != 9372538179322589801 || ml.Members[0].Name != "m1" {
		t.Fatalf("header/member: %+v", ml)
	}
	// etcdctl -w json writes numbers: read as digits, not through float64.
	ml, err = DecodeMemberList([]byte(`{"members":[{"ID":9372538179322589801,"name":"a"}]}`))
	if err != nil || uint64(ml.Members[0].ID) != 9372538179322589801 {
		t.Fatalf("numeric ID: %+v %v", ml, err)
	}
	st, err := DecodeStatus([]byte(realStatus))
	if err != nil {
		t.Fatal(err)
	}
	if st.DBSize != 20480 || st.DBSizeInUse != 16384 || uint64(st.Leader) != 9372538179322589801 || st.RaftIndex != 8 || st.Version != "3.4.23" {
		t.Fatalf("status %+v", st)
	}
}

func TestDecodeRefusesBadAnswers(t *testing.T) {
	for _, bad := range []string{
		``, `[]`, `{"header":{}}`, // no members
		`{"members":[{"ID":"1.5e3","name":"a"}]}`,
		`{"members":[{"ID":"-1","name":"a"}]}`,
		`{"members":[{"ID":"18446744073709551616","name":"a"}]}`, // 2^64
		`{"members":[{"name":"a"}]}`,                             // no ID
		`{"members":[{"ID":"1"},{"ID":"1"}]}`,                    // twice
		`{"members":[]} {"members":[]}`,                          // trailing
		`{"members":[{"ID":"1","name":"` + strings.Repeat("x", 600) + `"}]}`,
	} {
		if ml, err := DecodeMemberList([]byte(bad)); err == nil {
			t.Errorf("member list %.60q accepted: %+v", bad, ml)
		}
	}
	for _, bad := range []string{`{}`, `{"header":{"member_id":"1"},"dbSize":"-5"}`, `{"header":{"member_id":"x"}}`, `{"header":{"member_id":"1"},"dbSize":"9223372036854775808"}`} {
		if st, err := DecodeStatus([]byte(bad)); err == nil {
			t.Errorf("status %q accepted: %+v", bad, st)
		}
	}
	for _, bad := range []string{`{}`, `{"health":true}`, `{"health":"yes"}`} {
		if h, err := DecodeHealth([]byte(bad)); err == nil {
			t.Errorf("health %q accepted: %+v", bad, h)
		}
	}
	if h, err := DecodeHealth([]byte(`{"health":"false","reason":"RAFT NO LEADER"}`)); err != nil || h.OK() || h.Reason != "RAFT NO LEADER" {
		t.Errorf("unhealthy answer: %+v %v", h, err)
	}
}

func FuzzDecoders(f *testing.F) {
	for _, s := range []string{realList, realStatus, `{"health":"true"}`, `{"members":[{"ID":1}]}`, `{"ID":"99999999999999999999"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if ml, err := DecodeMemberList(b); err == nil {
			if len(ml.Members) > maxMembers {
				t.Fatalf("%d members accepted", len(ml.Members))
			}
			for _, m := range ml.Members {
				if m.ID == 0 || len(m.Name) > maxText {
					t.Fatalf("bad member accepted: %+v", m)
				}
			}
		}
		if st, err := DecodeStatus(b); err == nil && (st.DBSize < 0 || len(st.Errors) > maxStatusErrs || st.Header.MemberID == 0) {
			t.Fatalf("bad status accepted: %+v", st)
		}
		if h, err := DecodeHealth(b); err == nil && h.Health != "true" && h.Health != "false" {
			t.Fatalf("bad health accepted: %+v", h)
		}
	})
}

func TestSummaryRoundTrip(t *testing.T) {
	for _, s := range []Summary{{}, {Answered: true, Members: 3, Healthy: 2, Leader: 1<<64 - 1, DBPercent: 12, Unlisted: 1}, {Answered: true, DBPercent: -1}} {
		got, err := ParseSummary(s.String())
		if err != nil || got != s {
			t.Errorf("%+v -> %q -> %+v %v", s, s.String(), got, err)
		}
	}
	if n := len(Summary{Answered: true, Members: 999, Healthy: 999, Leader: 1<<64 - 1, DBPercent: 999, Unlisted: 999, Missing: 999}.String()); n > 60 {
		t.Errorf("largest summary %d bytes", n)
	}
	for _, bad := range []string{"", "?", "3/2,0,1,0,0", "1/3,zz,1,0,0", "1/3,0,-2,0,0", "01/3,0,1,0,0", "1/3,0,1,0", "1/3,0,1,0,0,0", "+1/3,0,1,0,0", "1/1000,0,1,0,0"} {
		if s, err := ParseSummary(bad); err == nil {
			t.Errorf("%q accepted: %+v", bad, s)
		}
	}
}

func FuzzParseSummary(f *testing.F) {
	f.Add("!")
	f.Add("2/3,8e9e05c52164694d,12,0,1")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := ParseSummary(v)
		if err != nil {
			return
		}
		if s.Healthy > s.Members || s.Members > maxSummaryCount {
			t.Fatalf("%q: %+v", v, s)
		}
		if again, err := ParseSummary(s.String()); err != nil || again != s {
			t.Fatalf("%q: %+v does not round-trip: %+v %v", v, s, again, err)
		}
	})
}
