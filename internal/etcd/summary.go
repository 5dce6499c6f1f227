package etcd

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Summary is what a controller gossips of its etcd survey (tag "e"), so
// that every node's quorum checks use etcd's own answer: a few numbers,
// well within serf's tag budget (at most ~60 bytes).
type Summary struct {
	// Answered: this node's etcd member answered the member list. When
	// false the other fields are zero.
	Answered bool
	// Members and Healthy count the voters, as the survey judged them.
	Members, Healthy int
	// Leader is the leader's ID as this member knows it (0: none).
	Leader uint64
	// DBPercent is the largest member database seen, in percent of the
	// quota (-1: unknown).
	DBPercent int
	// Unlisted counts members etcd lists that the inventory does not
	// have; Missing the inventory's etcd hosts etcd does not list (both 0
	// without an inventory).
	Unlisted, Missing int
}

// maxSummaryCount bounds every count (etcd allows far fewer members).
const maxSummaryCount = 999

// String encodes s: "!" when not answered, else
// "<healthy>/<members>,<leader hex>,<db percent>,<unlisted>,<missing>".
func (s Summary) String() string {
	if !s.Answered {
		return "!"
	}
	return fmt.Sprintf("%d/%d,%x,%d,%d,%d", s.Healthy, s.Members, s.Leader, s.DBPercent, s.Unlisted, s.Missing)
}

// ParseSummary decodes String's form; anything else is an error.
func ParseSummary(v string) (Summary, error) {
	if v == "!" {
		return Summary{}, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) != 5 {
		return Summary{}, fmt.Errorf("etcd summary %.40q: want 5 comma-separated fields", v)
	}
	hs, ms, ok := strings.Cut(parts[0], "/")
	if !ok {
		return Summary{}, fmt.Errorf("etcd summary %.40q: want healthy/members first", v)
	}
	s := Summary{Answered: true}
	var err error
	num := func(f string, min int) int {
		if err != nil {
			return 0
		}
		var n int
		n, err = strconv.Atoi(f)
		if err == nil && (n < min || n > maxSummaryCount || f != strconv.Itoa(n)) {
			err = errors.New("out of range")
		}
		return n
	}
	s.Healthy, s.Members = num(hs, 0), num(ms, 0)
	s.DBPercent, s.Unlisted, s.Missing = num(parts[2], -1), num(parts[3], 0), num(parts[4], 0)
	if err == nil {
		s.Leader, err = strconv.ParseUint(parts[1], 16, 64)
	}
	if err == nil && s.Healthy > s.Members {
		err = errors.New("more healthy members than members")
	}
	if err != nil {
		return Summary{}, fmt.Errorf("etcd summary %.40q: %w", v, err)
	}
	return s, nil
}

// Summarize condenses a survey; inventory lists the inventory's etcd
// hosts by name (nil: no inventory, nothing compared); quota is etcd's
// backend quota in bytes.
func (s Survey) Summarize(inventory []string, quota int64) Summary {
	q := s.Quorum()
	out := Summary{Answered: true, Members: min(q.Members, maxSummaryCount), Healthy: min(q.Healthy, maxSummaryCount),
		Leader: s.Leader, DBPercent: -1}
	if pct, ok := s.DBPercent(quota); ok {
		out.DBPercent = min(int(pct), maxSummaryCount)
	}
	if inventory != nil {
		unlisted, missing := s.Compare(inventory)
		out.Unlisted, out.Missing = min(len(unlisted), maxSummaryCount), min(len(missing), maxSummaryCount)
	}
	return out
}

// DBPercent is the largest database size any member reported, in percent
// of quota; ok false when no member reported one.
func (s Survey) DBPercent(quota int64) (float64, bool) {
	if quota <= 0 {
		return 0, false
	}
	var most int64 = -1
	for _, m := range s.Members {
		if m.Status != nil {
			most = max(most, int64(m.Status.DBSize))
		}
	}
	if most < 0 {
		return 0, false
	}
	return float64(most) * 100 / float64(quota), true
}

// Compare lists the members etcd has that the inventory does not
// (unlisted: their names, or hex IDs for unnamed ones) and the inventory's
// etcd hosts etcd does not list (missing).
func (s Survey) Compare(inventory []string) (unlisted, missing []string) {
	names := map[string]bool{}
	for _, m := range s.Members {
		names[m.Name] = true
		if !slices.Contains(inventory, m.Name) {
			n := m.Name
			if n == "" {
				n = fmt.Sprintf("(unnamed %x)", uint64(m.ID))
			}
			unlisted = append(unlisted, n)
		}
	}
	for _, h := range inventory {
		if !names[h] {
			missing = append(missing, h)
		}
	}
	return unlisted, missing
}
