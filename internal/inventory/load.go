package inventory

import (
	"bytes"
	"io"
	"strings"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

// MaxFileSize bounds what Load reads. A 600-host inventory is well under
// 100 KB; anything near this size is a wrong file or an attack, and the
// YAML node tree costs tens of times the input, so the cap bounds memory.
const MaxFileSize = 4 << 20

// Loader reads inventory files. The zero value reads regular files of the
// local filesystem with MaxFileSize; tests inject Open and MaxBytes.
type Loader struct {
	// Open opens the named file; nil means the local filesystem, regular
	// files only (a FIFO or device is refused before it is opened).
	Open func(name string) (io.ReadCloser, error)
	// MaxBytes is the largest file accepted; 0 means MaxFileSize.
	MaxBytes int64
}

// Load reads the inventory at path with the default Loader. It returns an
// error only for a file it cannot read as an inventory at all (missing,
// too big, not YAML or INI, no host); mistakes it can read past are in
// the cluster's Problems, which Validate reports with its findings.
func Load(path string) (*cluster.Cluster, error) { return Loader{}.Load(path) }

// Parse resolves inventory data; name is used in messages and as Source.
func Parse(name string, data []byte) (*cluster.Cluster, error) {
	return Loader{}.Parse(name, data)
}

// file is the strict-YAML pipeline's rules for an inventory: unlike a
// config it may use anchors and aliases (installer inventories share host
// variables with them), within a budget that stops an alias bomb.
func (l Loader) file() yamlstrict.Options {
	o := yamlstrict.Options{
		Kind:     "inventory",
		MaxBytes: MaxFileSize,
		MaxNodes: maxNodes,
		MaxDepth: maxDepth,
		TopLevel: "groups (all, kuma, kuma_k0s)",
		Aliases:  &yamlstrict.AliasBudget{MaxAliases: maxAliases, MaxVisits: maxVisits},
		Open:     l.Open,
	}
	if l.MaxBytes > 0 {
		o.MaxBytes = l.MaxBytes
	}
	return o
}

// Load reads at most MaxBytes+1 bytes of path, so a huge file is refused
// without being read whole. An Acura ha_env_file is read with its
// supplement (path + SupplementSuffix) when that file exists.
func (l Loader) Load(path string) (*cluster.Cluster, error) {
	data, err := l.file().ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := l.Parse(path, data)
	if err != nil || c.Layout != cluster.LayoutAcura {
		return c, err
	}
	supp, err := l.loadSupplement(path)
	if err != nil || supp == nil {
		return c, err
	}
	return l.ParseSupplemented(path, data, path+SupplementSuffix, supp)
}

// Parse detects the format of data and resolves it into a cluster.
func (l Loader) Parse(name string, data []byte) (*cluster.Cluster, error) {
	file := l.file()
	if err := file.CheckSize(name, len(data)); err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var (
		c   *cluster.Cluster
		err error
	)
	if looksLikeINI(data) {
		c, err = parseINI(name, data)
	} else {
		c, err = parseYAML(file, name, data)
	}
	if err != nil {
		return nil, err
	}
	c.Source = name
	if len(c.Hosts) == 0 {
		// Nothing to check: the problems read past are likely why.
		var es yamlstrict.Errors
		for _, pr := range c.Problems {
			es.Add(name, pr.Line, pr.Host, "%s", pr.Message)
		}
		es.Add(name, 0, "", "inventory declares no hosts")
		return nil, es
	}
	return c, nil
}

// looksLikeINI decides the format from the first meaningful line: an INI
// inventory starts with a `[group]` header or a `name key=value ...` host
// line, which is never how a YAML inventory (a mapping of groups) starts.
func looksLikeINI(data []byte) bool {
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' || s[0] == ';' {
			continue
		}
		if s[0] == '[' {
			return true // a YAML inventory is a mapping, never a top-level list
		}
		fields := iniFields(s)
		if len(fields) == 0 {
			return false
		}
		if !isINIHostToken(fields[0]) {
			return false
		}
		for _, f := range fields[1:] {
			if !strings.Contains(f, "=") {
				return false
			}
		}
		return true
	}
	return false
}

// isINIHostToken accepts what can start an INI host line but not a YAML
// document: no key colon, no YAML indicator as first character.
func isINIHostToken(s string) bool {
	if s == "" || strings.HasSuffix(s, ":") || strings.Contains(s, "=") {
		return false
	}
	c := s[0]
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
