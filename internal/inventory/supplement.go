package inventory

import (
	"errors"
	"io/fs"
	"slices"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
)

// SupplementSuffix names the file next to an Acura ha_env_file that says
// what Acura's file cannot: the load balancer (a host under [lb]) and, per
// node, its internal_address. Acura's installer reads ha_env_file and
// runs its playbooks on every host there, so the balancer must not be
// added to it; the supplement is a second Ansible INI inventory, merged as
// Ansible merges two inventory sources (`-i ha_env_file -i
// ha_env_file.kuma-agent`), that only kuma-agent reads.
const SupplementSuffix = ".kuma-agent"

// loadSupplement reads path+SupplementSuffix; a missing file is nil, nil.
func (l Loader) loadSupplement(path string) ([]byte, error) {
	data, err := l.file().ReadFile(path + SupplementSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// ParseSupplemented resolves an Acura ha_env_file (name, data) together
// with its supplement (suppName, supp). The supplement may add hosts only
// under [lb], and may set variables of hosts the ha_env_file lists; any
// other host line is an error naming the supplement's line, so a typo in a
// node's name is not a silent extra member.
func (l Loader) ParseSupplemented(name string, data []byte, suppName string, supp []byte) (*cluster.Cluster, error) {
	file := l.file()
	if err := file.CheckSize(name, len(data)); err != nil {
		return nil, err
	}
	if err := file.CheckSize(suppName, len(supp)); err != nil {
		return nil, err
	}
	main, err := readINI(name, data)
	if err != nil {
		return nil, err
	}
	add, err := readINI(suppName, supp)
	if err != nil {
		return nil, err
	}
	if err := main.merge(add, name); err != nil {
		return nil, err
	}
	if len(main.order) == 0 {
		return nil, errAt(name, 0, "", "inventory declares no hosts")
	}
	c := main.resolve()
	c.Source = name
	return c, nil
}

// merge folds the supplement s into inv (the ha_env_file named file).
func (inv *iniInventory) merge(s *iniInventory, file string) error {
	for _, sh := range s.order {
		lb := slices.ContainsFunc(sh.host.Groups, func(g string) bool { _, ok := iniGroupRoles[g]; return ok })
		h := inv.hosts[sh.host.Name]
		switch {
		case h != nil && lb:
			return errAt(s.file, sh.host.Line, sh.host.Name,
				"is an Acura node in %s: the load balancer is a VM of its own, with a name of its own", file)
		case h == nil && !lb:
			return errAt(s.file, sh.host.Line, sh.host.Name,
				"is not in %s: the supplement adds only the load balancer (under [lb]) and variables of the nodes %s lists", file, file)
		case h == nil:
			inv.hosts[sh.host.Name] = sh
			inv.order = append(inv.order, sh)
			continue
		}
		for k, v := range sh.vars {
			h.vars[k] = v
		}
		h.host.Groups = append(h.host.Groups, sh.host.Groups...)
	}
	for _, g := range s.groups {
		inv.mention(g)
	}
	for g, vars := range s.groupVars {
		if inv.groupVars[g] == nil {
			inv.groupVars[g] = map[string]any{}
		}
		for k, v := range vars {
			inv.groupVars[g][k] = v
		}
	}
	for g, kids := range s.children {
		inv.children[g] = append(inv.children[g], kids...)
	}
	return nil
}
