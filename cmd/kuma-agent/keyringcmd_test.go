package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kuma-agent/kuma-agent/agent/mesh"
)

func TestKeyringKeyFromFileOrArgument(t *testing.T) {
	key, err := mesh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := mesh.GenerateKey()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ring, _ := json.Marshal([]string{key})
	two, _ := json.Marshal([]string{key, other})
	for _, tt := range []struct {
		name    string
		args    []string
		file    string
		stdin   string
		wantErr string // "" = key
	}{
		{name: "argument", args: []string{key}},
		{name: "argument in keygen form", args: []string{string(ring)}},
		{name: "keygen file", file: write("ring", string(ring)+"\n")},
		{name: "bare key file", file: write("bare", key+"\n")},
		{name: "stdin", file: "-", stdin: key + "\n"},
		{name: "both", args: []string{key}, file: write("both", key), wantErr: "not both"},
		{name: "neither", wantErr: "want one KEY"},
		{name: "two arguments", args: []string{key, key}, wantErr: "want one KEY"},
		{name: "two keys in the file", file: write("two", string(two)), wantErr: "keyring of 2 keys"},
		{name: "missing file", file: filepath.Join(dir, "absent"), wantErr: "no such file"},
		{name: "directory", file: dir, wantErr: "not a regular file"},
		{name: "oversized", file: write("big", strings.Repeat("A", maxKeyFile+1)), wantErr: "over 4096 bytes"},
		{name: "not a key", file: write("junk", "hello"), wantErr: "junk"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keyringKey("install", tt.args, tt.file, strings.NewReader(tt.stdin))
			if tt.wantErr == "" {
				if err != nil || got != key {
					t.Fatalf("key %q, err %v; want the key", got, err)
				}
				return
			}
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ue) {
				t.Fatalf("err %v (usage error: %v), want a usage error containing %q", err, errors.As(err, &ue), tt.wantErr)
			}
		})
	}
}

// The dispatcher's view: --key-file is a flag of keyring, usage errors exit 2.
func TestKeyringKeyFileFlag(t *testing.T) {
	if code, _, errOut := run(context.Background(), "keyring", "list", "--key-file", "x"); code != 2 || !strings.Contains(errOut, "--key-file is for install") {
		t.Errorf("keyring list --key-file: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(context.Background(), "keyring", "use", "--key-file", filepath.Join(t.TempDir(), "absent")); code != 2 || !strings.Contains(errOut, "kuma-agent keyring: ") {
		t.Errorf("keyring use --key-file absent: exit %d, %q", code, errOut)
	}
}
