package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/agent/mesh"
)

func keygenCommand(o stdio) *command {
	return &command{
		name:  "keygen",
		short: "print a new gossip keyring file",
		usage: "kuma-agent keygen > /etc/kuma-agent/gossip.keyring",
		help: "Prints a new keyring file holding one random 32-byte gossip key. Copy the same\n" +
			"file to every node (mode 0600). To rotate keys in a running cluster use `kuma-agent keyring`.",
		exec: func(context.Context, []string) error {
			k, err := mesh.GenerateKey()
			if err != nil {
				return err
			}
			b, _ := json.Marshal([]string{k})
			_, err = fmt.Fprintln(o.out, string(b))
			return err
		},
	}
}

var keyringOps = map[string]string{"list": control.OpKeyringList, "install": control.OpKeyringInstall, "use": control.OpKeyringUse, "remove": control.OpKeyringRemove}

func keyringCommand(o stdio) *command {
	var sh shared
	return &command{
		name:     "keyring",
		short:    "list, install, use or remove gossip keys on every node",
		usage:    "kuma-agent keyring list | install KEY | use KEY | remove KEY [--config FILE] [--timeout D]",
		withArgs: true,
		help: "Rotates the gossip key on every node: install the new key, use it (make it primary),\n" +
			"then remove the old one. New keys come from `kuma-agent keygen`.",
		flags: sh.agentFlags(nil),
		exec: func(ctx context.Context, args []string) error {
			if len(args) == 0 {
				return usagef("want list, install, use or remove")
			}
			op, ok := keyringOps[args[0]]
			if !ok {
				return usagef("unknown subcommand %q (want list, install, use or remove)", args[0])
			}
			var req any
			switch {
			case args[0] == "list":
				if err := noArgs(args[1:]); err != nil {
					return err
				}
			case len(args) != 2:
				return usagef("%s: want one KEY", args[0])
			default:
				key := strings.TrimSpace(args[1])
				// Accept the keygen file form too: ["base64"].
				var list []string
				if json.Unmarshal([]byte(key), &list) == nil && len(list) == 1 {
					key = list[0]
				}
				if _, err := mesh.DecodeKey(key); err != nil {
					return usageError{err}
				}
				req = control.KeyArgs{Key: key}
			}
			var st mesh.KeyringStatus
			if err := sh.call(ctx, op, req, &st); err != nil {
				return err
			}
			return writeJSON(o.out, st)
		},
	}
}
