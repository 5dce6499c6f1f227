package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kuma-agent/kuma-agent/checks"
)

// DefaultTimeout bounds one plugin run when Loader.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Loader finds the plugins of a directory.
type Loader struct {
	// Dir holds the plugins (not searched recursively).
	Dir string
	// Timeout bounds one run; the plugin's whole process group is killed then.
	Timeout time.Duration
	// OwnerUID must own Dir and every plugin (0, root, in production).
	OwnerUID int
}

// skipped are leftovers of editors and package managers, never plugins
// (run-parts skips the same kinds).
var (
	skippedSuffixes = []string{"~", ".rpmnew", ".rpmsave", ".rpmorig", ".swp", ".bak", ".orig", ".disabled"}
	skippedInfixes  = []string{".dpkg-", ".ucf-"}
)

func skipName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return true
	}
	for _, s := range skippedSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	for _, s := range skippedInfixes {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// Checks returns one check per executable in Dir, in name order. A missing
// Dir means no plugins. An unsafe Dir yields a single refusing check and
// nothing runs; an unsafe plugin yields a refusing check in its place.
func (l Loader) Checks() ([]checks.Check, error) {
	if _, err := os.Lstat(l.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("plugin directory: %w", err)
	}
	if v := inspectDir(l.Dir, l.OwnerUID); v.unsafe != "" {
		return []checks.Check{Refused{CheckName: checkName(filepath.Base(l.Dir)), Reason: v.unsafe, Fix: v.remedy}}, nil
	}
	entries, err := os.ReadDir(l.Dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("plugin directory: %w", err)
	}
	var out []checks.Check
	for _, e := range entries {
		if skipName(e.Name()) || e.IsDir() {
			continue
		}
		path := filepath.Join(l.Dir, e.Name())
		v, err := inspectFile(path, l.OwnerUID)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while we listed
		}
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", path, err)
		}
		switch {
		case v.unsafe != "":
			out = append(out, Refused{CheckName: checkName(e.Name()), Reason: v.unsafe, Fix: v.remedy})
		case v.executable:
			out = append(out, Plugin{Path: path, Timeout: l.Timeout, OwnerUID: l.OwnerUID})
		}
	}
	return out, nil
}

func checkName(base string) string { return "plugin:" + base }
