package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/kuma-agent/kuma-agent/agent/control"
	"github.com/kuma-agent/kuma-agent/agent/mesh"
	"github.com/kuma-agent/kuma-agent/internal/privfile"
)

func keygenCommand(o stdio) *command {
	var out string
	return &command{
		name:  "keygen",
		short: "write a new gossip keyring file",
		usage: "kuma-agent keygen [--out /etc/kuma-agent/gossip.keyring]",
		help: "Writes a new keyring file holding one random 32-byte gossip key: to --out (created\n" +
			"with mode 0600, never over an existing file), else to stdout. Copy the same file to\n" +
			"every node, owned by root with mode 0600: the agent refuses a keyring others can read.\n" +
			"To rotate keys in a running cluster use `kuma-agent keyring`.",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "write the keyring to this new file (mode 0600) instead of stdout")
		},
		exec: func(context.Context, []string) error {
			k, err := mesh.GenerateKey()
			if err != nil {
				return err
			}
			b, _ := json.Marshal([]string{k})
			b = append(b, '\n')
			if out != "" {
				return writeSecretFile(out, b)
			}
			if w := worldReadableStdout(o.out); w != "" {
				fmt.Fprintf(o.err, "warning: %s\n", w)
			}
			_, err = o.out.Write(b)
			return err
		},
	}
}

// writeSecretFile creates path with mode 0600 (whatever the umask) and
// writes b to it, synced; an existing file is never overwritten.
func writeSecretFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: keygen does not overwrite a keyring (remove it first, or rotate with `kuma-agent keyring`)", path)
	}
	if err != nil {
		return err
	}
	err = privfile.Finish(f, b)
	if err != nil {
		os.Remove(path)
	}
	return err
}

// worldReadableStdout says what is wrong when w is a regular file that
// group or others can read (`umask 022; kuma-agent keygen > k`), "" if
// nothing is.
func worldReadableStdout(w io.Writer) string {
	f, ok := w.(*os.File)
	if !ok {
		return ""
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o077 == 0 {
		return ""
	}
	name := f.Name()
	if p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil {
		name = p
	}
	return fmt.Sprintf("stdout is %s with mode %04o: others can read the key; run chmod 600 %s (or use `kuma-agent keygen --out FILE`); the agent refuses a keyring others can read",
		name, st.Mode().Perm(), name)
}

// keyringVerbs are keyring's subcommands in help order (keyringOps has
// their control operations).
var keyringVerbs = []string{"list", "install", "use", "remove"}

var keyringOps = map[string]string{"list": control.OpKeyringList, "install": control.OpKeyringInstall, "use": control.OpKeyringUse, "remove": control.OpKeyringRemove}

func keyringCommand(o stdio) *command {
	var sh shared
	var keyFile string
	agentFlags := sh.agentFlags(nil)
	return &command{
		name:     "keyring",
		short:    "list, install, use or remove gossip keys on every node",
		usage:    "kuma-agent keyring list | install|use|remove (--key-file FILE | KEY) [--config FILE] [--timeout D]",
		withArgs: true,
		verbs:    keyringVerbs,
		help: "Rotates the gossip key on every node: install the new key, use it (make it primary),\n" +
			"then remove the old one. New keys come from `kuma-agent keygen --out FILE`.\n" +
			"Prefer --key-file (a keygen file, or - for stdin): a KEY argument is visible to every\n" +
			"local user in the process list while the command runs.",
		flags: func(fs *flag.FlagSet) {
			agentFlags(fs)
			fs.StringVar(&keyFile, "key-file", "", "read the key from this file (a keygen keyring of one key, or the key alone; - for stdin) instead of the argument")
		},
		exec: func(ctx context.Context, args []string) error {
			if len(args) == 0 {
				return usagef("want %s", orList(keyringVerbs))
			}
			op, ok := keyringOps[args[0]]
			if !ok {
				return usagef("unknown subcommand %q (want %s)", args[0], orList(keyringVerbs))
			}
			var req any
			switch {
			case args[0] == "list":
				if err := noArgs(args[1:]); err != nil {
					return err
				}
				if keyFile != "" {
					return usagef("list: --key-file is for install, use and remove")
				}
			default:
				key, err := keyringKey(args[0], args[1:], keyFile, o.in)
				if err != nil {
					return err
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

// maxKeyFile bounds what --key-file reads: a keyring of one key is about
// 50 bytes.
const maxKeyFile = 4 << 10

// keyringKey is the key of install/use/remove: the one argument, or the
// content of --key-file (never both). Either may be keygen's file form
// (["base64"]) or the base64 key alone.
func keyringKey(verb string, args []string, keyFile string, stdin io.Reader) (string, error) {
	var key, from string
	switch {
	case keyFile != "" && len(args) != 0:
		return "", usagef("%s: give the key as --key-file or as an argument, not both", verb)
	case keyFile != "":
		b, err := readKeyFile(keyFile, stdin)
		if err != nil {
			return "", err
		}
		key, from = string(b), keyFile
	case len(args) != 1:
		return "", usagef("%s: want one KEY (or --key-file FILE)", verb)
	default:
		key, from = args[0], "the argument"
	}
	key = strings.TrimSpace(key)
	var list []string
	if json.Unmarshal([]byte(key), &list) == nil {
		if len(list) != 1 {
			return "", usagef("%s: %s holds a keyring of %d keys, want exactly one", verb, from, len(list))
		}
		key = list[0]
	}
	if _, err := mesh.DecodeKey(key); err != nil {
		return "", usageError{fmt.Errorf("%s: %s: %w", verb, from, err)}
	}
	return key, nil
}

// readKeyFile reads path ("-": stdin), bounded.
func readKeyFile(path string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, usageError{fmt.Errorf("--key-file: %w", err)}
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
			return nil, usagef("--key-file: %s is not a regular file", path)
		}
		r = f
	}
	if r == nil {
		return nil, usagef("--key-file: no standard input")
	}
	b, err := io.ReadAll(io.LimitReader(r, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("--key-file %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, usagef("--key-file: %s is over %d bytes: not a keyring of one key", path, maxKeyFile)
	}
	return b, nil
}
