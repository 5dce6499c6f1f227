package mesh

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// keySizes are the AES key lengths memberlist accepts (AES-128/192/256).
var keySizes = map[int]bool{16: true, 24: true, 32: true}

// GenerateKey returns a new random 32-byte (AES-256) gossip key, base64
// encoded as DecodeKey and the keyring operations expect it.
func GenerateKey() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate gossip key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}

// DecodeKey decodes a base64 (standard encoding) gossip key and checks that
// it is 16, 24 or 32 bytes long.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("gossip key is empty")
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("gossip key is not valid base64: %w", err)
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

// checkKey validates a raw key's length.
func checkKey(key []byte) error {
	if !keySizes[len(key)] {
		return fmt.Errorf("gossip key is %d bytes, want 16, 24 or 32", len(key))
	}
	return nil
}

// loadKeyringFile reads a serf keyring file: a JSON list of base64 keys, the
// first being the primary. It returns os.ErrNotExist (wrapped) when the file
// is absent.
func loadKeyringFile(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read keyring file: %w", err)
	}
	var encoded []string
	if err := json.Unmarshal(data, &encoded); err != nil {
		return nil, fmt.Errorf("keyring file %s: not a JSON list of base64 keys: %w", path, err)
	}
	if len(encoded) == 0 {
		return nil, fmt.Errorf("keyring file %s: no keys", path)
	}
	keys := make([][]byte, 0, len(encoded))
	for i, s := range encoded {
		key, err := DecodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("keyring file %s: key %d: %w", path, i, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// writeKeyringFile writes keys in serf's keyring file format with 0600
// permissions, because the keys are secrets.
func writeKeyringFile(path string, keys [][]byte) error {
	encoded := make([]string, len(keys))
	for i, k := range keys {
		encoded[i] = base64.StdEncoding.EncodeToString(k)
	}
	data, err := json.MarshalIndent(encoded, "", "  ")
	if err != nil {
		return fmt.Errorf("encode keyring file: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write keyring file: %w", err)
	}
	return nil
}

// newKeyring builds a memberlist keyring with keys[0] as primary.
func newKeyring(keys [][]byte) (*memberlist.Keyring, error) {
	for i, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("field Keys[%d]: %w", i, err)
		}
	}
	ring, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("build keyring: %w", err)
	}
	return ring, nil
}

// KeyringStatus is the cluster-wide answer to a keyring operation.
type KeyringStatus struct {
	// Keys maps each base64 key to the number of agents that hold it.
	Keys map[string]int
	// PrimaryKeys maps each base64 primary key to the number of agents
	// that encrypt with it.
	PrimaryKeys map[string]int
	// Nodes is how many live agents were asked, Responses how many
	// answered, Errors how many reported a failure.
	Nodes, Responses, Errors int
	// Messages holds per-agent error messages.
	Messages map[string]string
}

func keyringStatus(r *serf.KeyResponse) KeyringStatus {
	if r == nil {
		return KeyringStatus{}
	}
	return KeyringStatus{
		Keys:        r.Keys,
		PrimaryKeys: r.PrimaryKeys,
		Nodes:       r.NumNodes,
		Responses:   r.NumResp,
		Errors:      r.NumErr,
		Messages:    r.Messages,
	}
}

// ListKeys asks every live agent for its keyring.
func (m *Mesh) ListKeys() (KeyringStatus, error) {
	if err := m.requireEncryption(); err != nil {
		return KeyringStatus{}, err
	}
	r, err := m.serf.KeyManager().ListKeys()
	if err != nil {
		return keyringStatus(r), fmt.Errorf("list gossip keys: %w", err)
	}
	return keyringStatus(r), nil
}

// InstallKey adds key (base64) to every live agent's keyring without making
// it primary. Rotation is InstallKey, UseKey, then RemoveKey of the old key.
func (m *Mesh) InstallKey(key string) (KeyringStatus, error) {
	return m.keyOp("install", key, m.serf.KeyManager().InstallKey)
}

// UseKey makes key (already installed) the primary encryption key on every
// live agent.
func (m *Mesh) UseKey(key string) (KeyringStatus, error) {
	return m.keyOp("use", key, m.serf.KeyManager().UseKey)
}

// RemoveKey removes key from every live agent; the primary key cannot be
// removed.
func (m *Mesh) RemoveKey(key string) (KeyringStatus, error) {
	return m.keyOp("remove", key, m.serf.KeyManager().RemoveKey)
}

func (m *Mesh) keyOp(op, key string, fn func(string) (*serf.KeyResponse, error)) (KeyringStatus, error) {
	if err := m.requireEncryption(); err != nil {
		return KeyringStatus{}, err
	}
	raw, err := DecodeKey(key)
	if err != nil {
		return KeyringStatus{}, fmt.Errorf("%s gossip key: %w", op, err)
	}
	// Re-encode so whitespace around the key is not sent to serf.
	r, err := fn(base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		return keyringStatus(r), fmt.Errorf("%s gossip key: %w", op, err)
	}
	m.log.Info("gossip keyring changed", "op", op, "nodes", r.NumNodes, "responses", r.NumResp)
	return keyringStatus(r), nil
}

func (m *Mesh) requireEncryption() error {
	if !m.serf.EncryptionEnabled() {
		return errors.New("gossip encryption is off (Dev mode without keys): no keyring to manage")
	}
	return nil
}
