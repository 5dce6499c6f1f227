package main

import (
	"context"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/config"
)

func configCommand(o stdio) *command {
	return &command{
		name:     "config",
		short:    "validate an agent.yaml and print what it resolves to",
		usage:    "kuma-agent config check [FILE]",
		withArgs: true,
		verbs:    []string{"check"},
		help: "Validates FILE (default " + config.DefaultPath + ") and prints the resolved configuration\n" +
			"with every default filled in. The secret files it names (keyring, NATS passwords,\n" +
			"credentials, keys) must be owned by root and closed to group and others, as `run`\n" +
			"requires; advice (an http_addr off loopback) goes to stderr as warnings.\n" +
			"Exit status: 0 valid, 1 invalid or unreadable.",
		exec: func(_ context.Context, args []string) error {
			if len(args) == 0 || args[0] != "check" {
				return usagef("want the subcommand check")
			}
			if len(args) > 2 {
				return usagef("unexpected argument %q", args[2])
			}
			path := config.DefaultPath
			if len(args) == 2 {
				path = args[1]
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			insecure, err := cfg.CheckSecretFiles(false)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for _, w := range append(cfg.Warnings(), insecure...) {
				fmt.Fprintf(o.err, "warning: %s: %s\n", path, w)
			}
			out, err := yaml.Marshal(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.out, "# %s is valid; resolved configuration:\n%s", path, out)
			fmt.Fprintln(o.out, "\n# port names for checks.ports.overrides:")
			for _, p := range cluster.KnownPorts() {
				fmt.Fprintf(o.out, "#   %-20s %5d/%s  %s\n", p.Name, p.Number, p.Proto, p.Purpose)
			}
			return nil
		},
	}
}
