package kumaunit

import "strings"

// Kind is the kind of KUMA service a unit runs.
type Kind string

const (
	KindCore       Kind = "core"
	KindCollector  Kind = "collector"
	KindCorrelator Kind = "correlator"
	KindStorage    Kind = "storage"
)

// unitPrefixes maps the documented unit name prefixes to their kind
// (KUMA 4.0: kuma-core-<ID>.service, kuma-collector-<ID>.service, ...).
var unitPrefixes = []struct {
	prefix string
	kind   Kind
}{
	{"kuma-core-", KindCore},
	{"kuma-collector-", KindCollector},
	{"kuma-correlator-", KindCorrelator},
	{"kuma-storage-", KindStorage},
}

// FirstCoreID is the service ID of the first Core of a Raft cluster
// (shown as core-1 in the web UI).
const FirstCoreID = "00000000-0000-0000-0000-000000000000"

// ParseName splits a unit name into its kind and service ID. ok is false
// for a unit that is not a KUMA service with an ID (kuma-grafana.service,
// the KUMA 3 kuma-core.service, anything else), and for an ID that is no
// plain name (empty, or holding a path separator or "..", since the ID
// becomes a directory name under /opt/kaspersky/kuma/core/).
func ParseName(unit string) (kind Kind, id string, ok bool) {
	base, isService := strings.CutSuffix(unit, ".service")
	if !isService {
		return "", "", false
	}
	for _, p := range unitPrefixes {
		if rest, found := strings.CutPrefix(base, p.prefix); found {
			if !PlainID(rest) {
				return "", "", false
			}
			return p.kind, rest, true
		}
	}
	return "", "", false
}

// UnitName is the unit of a service of kind with id.
func UnitName(kind Kind, id string) string { return "kuma-" + string(kind) + "-" + id + ".service" }

// PlainID reports whether id can name a directory: not empty, no path
// separator, no "." or "..", no control characters, at most 128 bytes.
func PlainID(id string) bool {
	if id == "" || id == "." || id == ".." || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
