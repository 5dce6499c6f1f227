package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"syscall"
)

// SecretFile is one file of secrets the configuration names.
type SecretFile struct {
	Key  string // the config key naming it
	Path string
}

// SecretFiles lists the secret files the agent reads with this config: the
// gossip keyring (not with --dev), and with events the NATS route password,
// client password, creds, nkey seed and TLS keys.
func (c *Config) SecretFiles(dev bool) []SecretFile {
	var out []SecretFile
	add := func(key, path string) {
		if path != "" {
			out = append(out, SecretFile{Key: key, Path: path})
		}
	}
	if !dev {
		add("mesh.keyring_file", c.Mesh.KeyringFile)
	}
	if c.Events.Enabled {
		if c.Events.NATS.URL == "" {
			add("events.embedded.route_password_file", c.Events.Embedded.RoutePasswordFile)
			add("events.embedded.route_tls.key_file", c.Events.Embedded.RouteTLS.KeyFile)
		} else {
			add("events.nats.password_file", c.Events.NATS.PasswordFile)
			add("events.nats.creds_file", c.Events.NATS.CredsFile)
			add("events.nats.nkey_file", c.Events.NATS.NKeyFile)
			add("events.nats.key_file", c.Events.NATS.KeyFile)
		}
	}
	return out
}

// CheckSecretFiles refuses secret files (SecretFiles) that a user other
// than root could read or replace: a file must be a regular file owned by
// root (or the user the agent runs as, when not root) with no group or
// other permission bits. The error names each file, what is wrong and the
// exact command that fixes it. A file that does not exist is not its
// business (whoever reads it says what is missing). With
// agent.allow_insecure_secret_files the same findings come back as
// warnings and the error is nil.
func (c *Config) CheckSecretFiles(dev bool) (warnings []string, err error) {
	var problems []string
	for _, f := range c.SecretFiles(dev) {
		problems = append(problems, secretFileProblems(f)...)
	}
	if len(problems) == 0 {
		return nil, nil
	}
	if c.Agent.AllowInsecureSecretFiles {
		for i, p := range problems {
			problems[i] = p + " (accepted: agent.allow_insecure_secret_files is true)"
		}
		return problems, nil
	}
	return nil, errors.New("secret files others can read or replace:\n  " + strings.Join(problems, "\n  ") +
		"\n(agent.allow_insecure_secret_files: true starts anyway, with a warning per file: not recommended)")
}

func secretFileProblems(f SecretFile) []string {
	st, err := os.Stat(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", f.Key, err)}
	}
	if !st.Mode().IsRegular() {
		return []string{fmt.Sprintf("%s: %s is not a regular file (%s): point it at the file itself", f.Key, f.Path, st.Mode().Type())}
	}
	var out []string
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if euid := os.Geteuid(); sys.Uid != 0 && int(sys.Uid) != euid {
			owner := "root:root"
			if euid != 0 {
				owner = fmt.Sprint(euid)
			}
			out = append(out, fmt.Sprintf("%s: %s is owned by uid %d, not root: run chown %s %s", f.Key, f.Path, sys.Uid, owner, f.Path))
		}
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		who := "group and others"
		switch {
		case perm&0o070 == 0:
			who = "others"
		case perm&0o007 == 0:
			who = "its group"
		}
		out = append(out, fmt.Sprintf("%s: %s is mode %04o, open to %s: run chmod 600 %s", f.Key, f.Path, perm, who, f.Path))
	}
	return out
}

// Warnings are settings that are valid but deserve a word: `config check`
// prints them and the agent logs them at start.
func (c *Config) Warnings() []string {
	var out []string
	if c.Agent.HTTPAddr != "" {
		if ap, err := netip.ParseAddrPort(c.Agent.HTTPAddr); err == nil && !ap.Addr().IsLoopback() {
			out = append(out, fmt.Sprintf("agent.http_addr: %s is not a loopback address: /healthz and /metrics are served to the network without authentication; "+
				"use 127.0.0.1:%d unless a remote Prometheus scrapes this node (then allow only it in the firewall)", c.Agent.HTTPAddr, ap.Port()))
		}
	}
	if c.Agent.AllowInsecureSecretFiles {
		out = append(out, "agent.allow_insecure_secret_files: true: secret files other users can read are accepted")
	}
	return out
}
