package raftops

import (
	"fmt"
	"strings"
)

// DropInName is the drop-in restore-cluster writes for the chosen Core
// (<unit dir>/<unit>.d/<DropInName>): the vendor unit stays as installed,
// and removing the file (and a daemon-reload) undoes the change.
const DropInName = "50-kuma-agent-restore-cluster.conf"

// DropIn is a drop-in that resets ExecStart= and sets argv (the unit's own
// command line without --raft.join). Each argument is written so that
// systemd reads back exactly it: quoted when it holds anything but plain
// characters, with '\' and '"' escaped, '%' (specifiers) and '$'
// (variables) doubled. A control character or an empty program is refused:
// it could not be written faithfully.
func DropIn(operation string, argv []string) (string, error) {
	if len(argv) == 0 || argv[0] == "" {
		return "", fmt.Errorf("drop-in: empty command line")
	}
	words := make([]string, len(argv))
	for i, a := range argv {
		w, err := systemdWord(a, i == 0)
		if err != nil {
			return "", fmt.Errorf("drop-in: argument %d: %w", i, err)
		}
		words[i] = w
	}
	return "# Written by kuma-agent (raft restore-cluster --execute, operation " + operation + "):\n" +
		"# KUMA's restore of a cluster that lost its majority runs the chosen Core without --raft.join.\n" +
		"[Service]\nExecStart=\nExecStart=" + strings.Join(words, " ") + "\n", nil
}

func systemdWord(a string, program bool) (string, error) {
	plain := a != ""
	if program && !strings.HasPrefix(a, "/") {
		// systemd reads prefixes ('-', '@', '+', '!', ':') before the path.
		return "", fmt.Errorf("program %q is not an absolute path", a)
	}
	for _, r := range a {
		switch {
		case r < 0x20 || r == 0x7f:
			return "", fmt.Errorf("%q holds a control character", a)
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("/._:,=+-@", r):
		default:
			plain = false
		}
	}
	if plain {
		return a, nil
	}
	if program {
		// The program's path is never quoted or escaped (systemd's prefixes
		// like '-' and '@' would change meaning): a path that is not plain
		// is refused.
		return "", fmt.Errorf("program path %q is not a plain path", a)
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`)
	return `"` + r.Replace(a) + `"`, nil
}
