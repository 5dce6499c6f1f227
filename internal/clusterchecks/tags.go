package clusterchecks

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kuma-agent/kuma-agent/checks"
	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/etcd"
	"github.com/kuma-agent/kuma-agent/internal/serftags"
)

// MaxTagsSize is serf's limit on one member's encoded tags (memberlist's
// node metadata limit, 512 bytes).
const MaxTagsSize = serftags.MaxSize

// Tag keys are one letter: the whole tag set shares MaxTagsSize bytes.
const (
	TagRoles      = "r" // comma-joined role names
	TagVersion    = "v" // agent version
	TagHealth     = "h" // "ok", "warn:ntp,hosts", "crit:a,b,+3"
	TagMachineID  = "m" // MachineIDHash
	TagGeneration = "g" // decimal uint64
	TagUnits      = "u" // quorum-group units on this node: "ok" or "down"
	TagRaft       = "k" // this node's Core in Raft: "leader", "follower" or "out"
	TagEtcd       = "e" // this controller's etcd summary (etcd.Summary's form)
	TagLife       = "l" // Life: random per agent process
)

// LifeLen is the length of Tags.Life in hex digits: 32 bits, so two lives
// of one node share it once in about four billion restarts.
const LifeLen = 8

// unitsValues and raftValues are the values TagUnits and TagRaft may take.
var (
	unitsValues = []string{"ok", "down"}
	raftValues  = []string{"leader", "follower", "out"}
)

// ErrTagsTooLarge is returned (wrapped) when tags cannot fit MaxTagsSize
// even with the failing-check list cut to nothing.
var ErrTagsTooLarge = serftags.ErrTooLarge

// machineIDHashLen is the length of MachineIDHash's result in hex digits.
const machineIDHashLen = 16

// MachineIDHash is what agents gossip instead of the machine-id: equal ids
// give equal hashes, so duplicates show, but the id itself (which some
// software treats as a secret) never leaves the host. The prefix keeps the
// hash from matching any other use of sha256(machine-id).
func MachineIDHash(id string) string {
	sum := sha256.Sum256([]byte("kuma-agent machine-id v1:" + id))
	return hex.EncodeToString(sum[:])[:machineIDHashLen]
}

// EncodeTags turns t into serf tags. When the failing-check list does not
// fit, its tail is replaced by "+N" (N checks not listed); an error wrapping
// ErrTagsTooLarge means even that did not fit. Invalid values (an unknown
// role, a check name with a comma) are errors naming the key.
func EncodeTags(t Tags) (map[string]string, error) {
	m := map[string]string{}
	if len(t.Roles) > 0 {
		for _, r := range t.Roles {
			if _, err := cluster.ParseRole(string(r)); err != nil {
				return nil, fmt.Errorf("tag %s: %w", TagRoles, err)
			}
		}
		m[TagRoles] = t.Roles.String()
	}
	if t.Version != "" {
		if err := printable(t.Version); err != nil {
			return nil, fmt.Errorf("tag %s: version: %w", TagVersion, err)
		}
		m[TagVersion] = t.Version
	}
	if t.MachineIDHash != "" {
		if !isMachineIDHash(t.MachineIDHash) {
			return nil, fmt.Errorf("tag %s: %q is not %d lowercase hex digits", TagMachineID, t.MachineIDHash, machineIDHashLen)
		}
		m[TagMachineID] = t.MachineIDHash
	}
	m[TagGeneration] = strconv.FormatUint(t.Generation, 10)
	if t.Life != "" {
		if !isLowerHex(t.Life, LifeLen) {
			return nil, fmt.Errorf("tag %s: %q is not %d lowercase hex digits", TagLife, t.Life, LifeLen)
		}
		m[TagLife] = t.Life
	}
	for key, v := range map[string]struct {
		val   string
		valid []string
	}{TagUnits: {t.Units, unitsValues}, TagRaft: {t.Raft, raftValues}} {
		if v.val == "" {
			continue
		}
		if !slices.Contains(v.valid, v.val) {
			return nil, fmt.Errorf("tag %s: %q is not one of %v", key, v.val, v.valid)
		}
		m[key] = v.val
	}

	if t.Etcd != nil {
		m[TagEtcd] = t.Etcd.String()
	}

	status := t.Health.Worst.String()
	if _, err := checks.ParseStatus(status); err != nil {
		return nil, fmt.Errorf("tag %s: %w", TagHealth, err)
	}
	if t.Health.Omitted < 0 {
		return nil, fmt.Errorf("tag %s: negative omitted count %d", TagHealth, t.Health.Omitted)
	}
	failing := slices.Clone(t.Health.Failing)
	slices.Sort(failing)
	failing = slices.Compact(failing)
	for _, name := range failing {
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("tag %s: check name %q: %w", TagHealth, name, err)
		}
	}

	// Keep the longest prefix of failing that fits; the encoded size grows
	// with k, so a binary search finds it.
	var lastErr error
	fits := func(k int) bool {
		m[TagHealth] = healthValue(status, failing[:k], len(failing)-k+t.Health.Omitted)
		n, err := serftags.EncodedSize(m)
		if err != nil {
			lastErr = err
			return false
		}
		return n <= MaxTagsSize
	}
	if fits(len(failing)) {
		return m, nil
	}
	k := sortSearchLast(len(failing), fits)
	if k < 0 {
		if lastErr != nil {
			return nil, lastErr
		}
		n, _ := serftags.EncodedSize(m)
		return nil, fmt.Errorf("%w: %d bytes with no failing check listed, limit %d", ErrTagsTooLarge, n, MaxTagsSize)
	}
	fits(k)
	return m, nil
}

// sortSearchLast returns the largest k in [0, n] with ok(k) true, assuming
// ok is true up to some point and false after; -1 if ok(0) is false.
func sortSearchLast(n int, ok func(int) bool) int {
	lo, hi := -1, n // ok(lo) true (or lo == -1), answer in [lo, hi)
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if mid >= 0 && ok(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func healthValue(status string, failing []string, omitted int) string {
	if len(failing) == 0 && omitted == 0 {
		return status
	}
	parts := slices.Clone(failing)
	if omitted > 0 {
		parts = append(parts, "+"+strconv.Itoa(omitted))
	}
	return status + ":" + strings.Join(parts, ",")
}

// DecodeTags parses serf tags written by EncodeTags. Unknown keys are
// ignored (a newer agent may add some) and so are well-formed but unknown
// role names (a newer agent's roles count for no quorum group here); a
// malformed value is an error naming its key. A missing health tag decodes
// as Worst = Unknown: the agent said nothing about its health.
func DecodeTags(m map[string]string) (Tags, error) {
	var t Tags
	if s, ok := m[TagRoles]; ok && s != "" {
		for _, name := range strings.Split(s, ",") {
			if !isRoleSyntax(name) {
				return Tags{}, fmt.Errorf("tag %s: malformed role %q in %q", TagRoles, clip(name), clip(s))
			}
			if r, err := cluster.ParseRole(name); err == nil {
				t.Roles = t.Roles.Add(r)
			}
		}
	}
	if s, ok := m[TagVersion]; ok {
		if err := printable(s); err != nil {
			return Tags{}, fmt.Errorf("tag %s: %w", TagVersion, err)
		}
		t.Version = s
	}
	if s, ok := m[TagMachineID]; ok {
		if !isMachineIDHash(s) {
			return Tags{}, fmt.Errorf("tag %s: %q is not %d lowercase hex digits", TagMachineID, clip(s), machineIDHashLen)
		}
		t.MachineIDHash = s
	}
	if s, ok := m[TagGeneration]; ok {
		g, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return Tags{}, fmt.Errorf("tag %s: %q is not a generation number: %w", TagGeneration, clip(s), err)
		}
		t.Generation = g
	}
	if s, ok := m[TagLife]; ok {
		if !isLowerHex(s, LifeLen) {
			return Tags{}, fmt.Errorf("tag %s: %q is not %d lowercase hex digits", TagLife, clip(s), LifeLen)
		}
		t.Life = s
	}
	// Unknown values from a newer agent read as "not said", never as a
	// verdict the guard would count.
	if s := m[TagUnits]; slices.Contains(unitsValues, s) {
		t.Units = s
	}
	if s := m[TagRaft]; slices.Contains(raftValues, s) {
		t.Raft = s
	}
	// A summary this agent cannot read (a newer format) is "not said": the
	// quorum check then judges that node as before, by agent and ports.
	if s, ok := m[TagEtcd]; ok {
		if e, err := etcd.ParseSummary(s); err == nil {
			t.Etcd = &e
		}
	}
	t.Health = Health{Worst: checks.Unknown}
	if s, ok := m[TagHealth]; ok {
		h, err := decodeHealth(s)
		if err != nil {
			return Tags{}, fmt.Errorf("tag %s: %w", TagHealth, err)
		}
		t.Health = h
	}
	return t, nil
}

func decodeHealth(s string) (Health, error) {
	status, list, hasList := strings.Cut(s, ":")
	worst, err := checks.ParseStatus(status)
	if err != nil {
		return Health{}, fmt.Errorf("in %q: %w", clip(s), err)
	}
	h := Health{Worst: worst}
	if !hasList {
		return h, nil
	}
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if strings.HasPrefix(p, "+") {
			n, err := strconv.Atoi(p[1:])
			if i != len(parts)-1 || err != nil || n <= 0 || p[1] == '+' {
				return Health{}, fmt.Errorf("bad omitted count %q in %q (want a final +N, N > 0)", clip(p), clip(s))
			}
			h.Omitted = n
			continue
		}
		if err := checkName(p); err != nil {
			return Health{}, fmt.Errorf("check name %q in %q: %w", clip(p), clip(s), err)
		}
		h.Failing = append(h.Failing, p)
	}
	slices.Sort(h.Failing)
	h.Failing = slices.Compact(h.Failing)
	return h, nil
}

// checkName rejects check names the health list cannot carry.
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case strings.ContainsRune(s, ','):
		return errors.New("contains a comma")
	case strings.HasPrefix(s, "+"):
		return errors.New("starts with +")
	}
	return printable(s)
}

// printable rejects invalid UTF-8 and control characters: tag values end up
// in messages and terminals.
func printable(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("contains control character %U", r)
		}
	}
	return nil
}

func isRoleSyntax(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isMachineIDHash(s string) bool { return isLowerHex(s, machineIDHashLen) }

// isLowerHex reports whether s is n lowercase hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// clip shortens a hostile value before it goes into an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
