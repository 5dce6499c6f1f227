package mesh

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGenerateKeyDecodes(t *testing.T) {
	s1, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := GenerateKey()
	if s1 == s2 {
		t.Error("two generated keys are equal")
	}
	k, err := DecodeKey(s1)
	if err != nil || len(k) != 32 {
		t.Fatalf("DecodeKey(GenerateKey()) = %d bytes, %v", len(k), err)
	}
}

func TestDecodeKeyErrors(t *testing.T) {
	cases := map[string]string{
		"":    "empty",
		"!!!": "base64",
		base64.StdEncoding.EncodeToString(make([]byte, 20)): "20 bytes",
	}
	for in, want := range cases {
		_, err := DecodeKey(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeKey(%q) = %v, want error containing %q", in, err, want)
		}
	}
	for _, n := range []int{16, 24, 32} {
		if _, err := DecodeKey(" " + base64.StdEncoding.EncodeToString(make([]byte, n)) + "\n"); err != nil {
			t.Errorf("%d-byte key rejected: %v", n, err)
		}
	}
}

func FuzzDecodeKey(f *testing.F) {
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==")
	f.Add("6ZyM7o5A3ayZMm1ESV2o0uzQahy3uRd9tq1LtA7fGpA=")
	f.Add("not base64")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := DecodeKey(s)
		if err == nil && !keySizes[len(k)] {
			t.Fatalf("DecodeKey(%q) accepted a %d-byte key", s, len(k))
		}
	})
}

func TestKeyRotationAcrossCluster(t *testing.T) {
	oldKey := testKey(t)
	oldB64 := base64.StdEncoding.EncodeToString(oldKey)
	ringFile := filepath.Join(t.TempDir(), "keyring.json")
	agents := startCluster(t, 3, Config{Keys: [][]byte{oldKey}})
	// A 4th agent persists its keyring, to check the file follows rotation.
	persisted := startAgent(t, Config{NodeName: "persisted", Keys: [][]byte{oldKey}, KeyringFile: ringFile})
	if _, err := persisted.Join([]string{agents[0].addr()}); err != nil {
		t.Fatal(err)
	}
	all := append(agents, persisted)
	for _, a := range all {
		waitStatus(t, a, all, "alive")
	}

	newB64, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	st, err := agents[0].InstallKey(newB64)
	if err != nil {
		t.Fatalf("install: %v (%+v)", err, st)
	}
	st, err = agents[1].ListKeys()
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys[oldB64] != 4 || st.Keys[newB64] != 4 || st.PrimaryKeys[oldB64] != 4 {
		t.Fatalf("after install: %+v", st)
	}

	if _, err := agents[0].UseKey(newB64); err != nil {
		t.Fatalf("use: %v", err)
	}
	if _, err := agents[0].RemoveKey(oldB64); err != nil {
		t.Fatalf("remove: %v", err)
	}
	st, err = agents[2].ListKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Keys) != 1 || st.Keys[newB64] != 4 || st.PrimaryKeys[newB64] != 4 {
		t.Fatalf("after use+remove: %+v", st)
	}

	// The cluster now speaks only the new key: an agent with it joins, one
	// with the old key does not.
	newRaw, _ := DecodeKey(newB64)
	if _, err := startAgent(t, Config{NodeName: "fresh", Keys: [][]byte{newRaw}}).Join([]string{agents[1].addr()}); err != nil {
		t.Errorf("agent with the new key cannot join: %v", err)
	}
	if _, err := startAgent(t, Config{NodeName: "stale", Keys: [][]byte{oldKey}}).Join([]string{agents[1].addr()}); err == nil {
		t.Error("agent with the removed key joined")
	}

	// The persisted keyring followed the rotation.
	keys, err := loadKeyringFile(ringFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !slices.Equal(keys[0], newRaw) {
		t.Errorf("keyring file holds %d keys, want only the new one", len(keys))
	}
	info, err := os.Stat(ringFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("keyring file mode %v, want 0600", info.Mode().Perm())
	}
}

func TestKeyringFileWinsOverConfigKeys(t *testing.T) {
	ringFile := filepath.Join(t.TempDir(), "keyring.json")
	fileKey, cfgKey := testKey(t), testKey(t)
	if err := writeKeyringFile(ringFile, [][]byte{fileKey}); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, Config{NodeName: "a", Keys: [][]byte{cfgKey}, KeyringFile: ringFile})
	st, err := a.ListKeys()
	if err != nil {
		t.Fatal(err)
	}
	fileB64 := base64.StdEncoding.EncodeToString(fileKey)
	if len(st.Keys) != 1 || st.PrimaryKeys[fileB64] != 1 {
		t.Errorf("keys in use %+v, want only the keyring file's key", st)
	}
}

func TestBadKeyringFile(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"notjson.json": "{",
		"empty.json":   "[]",
		"short.json":   `["` + base64.StdEncoding.EncodeToString(make([]byte, 8)) + `"]`,
	}
	for name, content := range cases {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := New(Config{NodeName: "a", BindAddr: loopbackAddr(), KeyringFile: path, Logger: testLogger()})
		if err == nil || !strings.Contains(err.Error(), "KeyringFile") || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v, want one naming KeyringFile and the path", name, err)
		}
	}
}
