package clusterchecks

import (
	"slices"
)

// Ignored is a member no decision believes, and why.
type Ignored struct {
	Member Member
	Reason string // "member x is not in the inventory", ...
}

// Believed is v as the decisions see it: only the members the inventory
// vouches for (cluster.Vouch: a host of that exact name, at its inventory
// IP when the inventory has one), with the inventory's roles in place of
// the roles their tags claim, and only the answers (times, hosts views,
// reachability) of those members, each edge taken as probed from the
// member that answered. The others come back as Ignored, for MembersCheck
// to report. Without an inventory there is nothing to vouch with: every
// member is taken as it describes itself (the checks say there is no
// inventory).
func Believed(v View) (View, []Ignored) {
	if v.Inventory == nil {
		return v, nil
	}
	var ignored []Ignored
	bv := v
	bv.Members = make([]Member, 0, len(v.Members))
	names := map[string]bool{}
	for _, m := range v.Members {
		h, err := v.Inventory.Vouch(m.Name, m.Addr)
		if err != nil {
			ignored = append(ignored, Ignored{Member: m, Reason: err.Error()})
			continue
		}
		m.Tags.Roles = slices.Clone(h.Roles)
		bv.Members = append(bv.Members, m)
		names[m.Name] = true
	}
	bv.Times = nil
	for _, s := range v.Times {
		if names[s.Node] {
			bv.Times = append(bv.Times, s)
		}
	}
	if v.Hosts != nil {
		bv.Hosts = map[string]HostsView{}
		for n, hv := range v.Hosts {
			if names[n] {
				bv.Hosts[n] = hv
			}
		}
	}
	if v.Reach != nil {
		bv.Reach = map[string][]Edge{}
		for n, es := range v.Reach {
			if !names[n] {
				continue
			}
			own := make([]Edge, len(es))
			for i, e := range es {
				e.From = n // a node speaks for its own probes only
				own[i] = e
			}
			bv.Reach[n] = own
		}
	}
	bv.Cores = believedOnly(v.Cores, names)
	bv.Certs = believedOnly(v.Certs, names)
	return bv, ignored
}

// believedOnly keeps the entries of the believed nodes (nil stays nil).
func believedOnly[T any](m map[string]T, names map[string]bool) map[string]T {
	if m == nil {
		return nil
	}
	out := make(map[string]T, len(m))
	for n, x := range m {
		if names[n] {
			out[n] = x
		}
	}
	return out
}
