package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
)

// loadConfig reads path. The default path may be absent (a fresh host, or
// doctor run before the package's config is edited): then the built-in
// defaults apply. A path the user named must exist.
func loadConfig(path string, explicit bool) (config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil && !explicit && errors.Is(err, fs.ErrNotExist) {
		return config.Default(), nil
	}
	return cfg, err
}

func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "Usage: kuma-agent config check [FILE]\n\nValidates FILE (default "+config.DefaultPath+") and prints the resolved configuration with every default filled in.")
		return 2
	}
	fset := flag.NewFlagSet("config check", flag.ContinueOnError)
	fset.SetOutput(stderr)
	if err := fset.Parse(args[1:]); err != nil {
		return 2
	}
	path := config.DefaultPath
	if fset.NArg() > 0 {
		path = fset.Arg(0)
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 1
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "kuma-agent: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "# %s is valid; resolved configuration:\n%s", path, out)
	fmt.Fprintln(stdout, "\n# port names for checks.ports.overrides:")
	for _, p := range cluster.KnownPorts() {
		fmt.Fprintf(stdout, "#   %-20s %5d/%s  %s\n", p.Name, p.Number, p.Proto, p.Purpose)
	}
	return 0
}

// isTerminal reports whether f is a character device (a TTY), so colors
// never end up in pipes and log files.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&fs.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}
