package mesh

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/kuma-agent/kuma-agent/internal/cluster"
	"github.com/kuma-agent/kuma-agent/internal/component"
)

// Config configures one agent's gossip layer.
type Config struct {
	// NodeName must be unique in the cluster and stable across restarts
	// (the snapshot is keyed on it): a host name (RFC 1123 labels of
	// letters, digits and '-', separated by '.'), at most 128 bytes. Other
	// agents' names are held to the same rule (memberGate).
	NodeName string
	// BindAddr and BindPort are where gossip listens (UDP and TCP).
	// BindAddr defaults to 0.0.0.0. BindPort 0 lets the kernel pick a free
	// port, which then is also the advertised port (used by tests).
	BindAddr string
	BindPort int
	// AdvertiseAddr/AdvertisePort are what other agents dial; empty/0 means
	// derive them from the bind address.
	AdvertiseAddr string
	AdvertisePort int
	// Keys are raw AES keys (16, 24 or 32 bytes); the first is primary.
	// Required unless Dev. Ignored when KeyringFile already exists: the
	// file holds the result of later rotations.
	Keys [][]byte
	// KeyringFile, if set, persists the keyring (serf's format: a JSON list
	// of base64 keys, primary first) so rotations survive restarts.
	KeyringFile string
	// SnapshotPath, if set, records members so a restarted agent with the
	// same NodeName rejoins them without an explicit Join.
	SnapshotPath string
	// Tags are this agent's metadata; encoded size at most MaxTagsSize.
	Tags map[string]string
	// Dev allows running without encryption. Never in production.
	Dev bool
	// Profile selects failure-detection timing; the zero value is ProfileLAN.
	Profile Profile
	// Hosts is how many agents the mesh is expected to hold (the
	// inventory's host count); ProfileLAN picks its probe timing by it
	// (lanTimings). 0 means unknown: the timing for up to 9 hosts.
	Hosts int
	// Logger receives member events and serf's own logs; nil means
	// slog.Default().
	Logger *slog.Logger
	// EventSink, if not nil, receives every member event.
	EventSink EventSink
	// Now is the clock used to stamp events; nil means time.Now.
	Now func() time.Time
	// Heartbeat, if not nil, is beaten by the loop that reads serf's
	// events, while it waits and after each event: serf hands events over
	// synchronously, so a stuck reader stalls gossip, and the watchdog must
	// see it.
	Heartbeat *component.Heartbeat

	// Test hooks, unexported on purpose.
	sinkQueueLen int                // capacity of the sink queue; 0 means defaultSinkQueueLen
	serfHook     func(*serf.Config) // last-minute serf config changes
	// answerSpread, if positive, replaces Profile.AnswerSpread(Hosts);
	// answerPause, if not nil, replaces the random draw of the pause.
	answerSpread time.Duration
	answerPause  func(limit time.Duration) time.Duration
}

const (
	// eventChanLen buffers serf's event channel so bursts never block serf.
	eventChanLen = 1024
	// defaultSinkQueueLen bounds memory when the sink is slower than events.
	defaultSinkQueueLen = 256
	// maxQueryHandlers bounds concurrently running query handlers,
	// counting those pausing before a spread answer (up to about a second): the
	// evaluator's four queries, their re-asks and an operator's doctor
	// --cluster at the same moment fit.
	maxQueryHandlers = 16
	// sinkDrainTimeout bounds how long Shutdown waits for the EventSink.
	sinkDrainTimeout = 5 * time.Second
)

// keys returns the keyring to start with: the persisted file if it exists,
// else cfg.Keys (then written to the file if one is configured).
func (c Config) keys(log *slog.Logger) ([][]byte, error) {
	if c.KeyringFile != "" {
		keys, err := loadKeyringFile(c.KeyringFile)
		switch {
		case err == nil:
			if len(c.Keys) > 0 {
				log.Info("gossip keyring file exists, Keys from config ignored", "file", c.KeyringFile)
			}
			return keys, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("field KeyringFile: %w", err)
		}
	}
	if len(c.Keys) == 0 {
		return nil, nil
	}
	if c.KeyringFile != "" {
		if err := writeKeyringFile(c.KeyringFile, c.Keys); err != nil {
			return nil, fmt.Errorf("field KeyringFile: %w", err)
		}
	}
	return c.Keys, nil
}

// validate checks fields serf would reject late or not at all.
func (c Config) validate() error {
	if c.NodeName == "" {
		return errors.New("field NodeName is required")
	}
	if err := cluster.CheckHostName(c.NodeName); err != nil {
		return fmt.Errorf("field NodeName: %w", err)
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return fmt.Errorf("field BindPort %d out of range 0-65535", c.BindPort)
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		return fmt.Errorf("field AdvertisePort %d out of range 0-65535", c.AdvertisePort)
	}
	if c.Hosts < 0 {
		return fmt.Errorf("field Hosts %d is negative", c.Hosts)
	}
	if _, ok := profileNames[c.Profile]; !ok {
		return fmt.Errorf("field Profile: unknown profile %d", int(c.Profile))
	}
	if !c.Dev && len(c.Keys) == 0 && c.KeyringFile == "" {
		return errors.New("field Keys: gossip encryption key required (set Keys or KeyringFile; Dev allows none)")
	}
	for i, k := range c.Keys {
		if err := checkKey(k); err != nil {
			return fmt.Errorf("field Keys[%d]: %w", i, err)
		}
	}
	if err := checkTags(c.Tags); err != nil {
		return fmt.Errorf("field Tags: %w", err)
	}
	return nil
}

// serfConfig builds serf's configuration for c with the given keys.
func (c Config) serfConfig(keys [][]byte, log *slog.Logger, eventCh chan serf.Event, gate *memberGate) (*serf.Config, error) {
	ml, err := c.Profile.memberlistConfig(c.Hosts)
	if err != nil {
		return nil, fmt.Errorf("field Profile: %w", err)
	}
	ml.Name = c.NodeName
	ml.BindAddr = c.BindAddr
	if ml.BindAddr == "" {
		ml.BindAddr = "0.0.0.0"
	}
	ml.BindPort = c.BindPort
	ml.AdvertiseAddr = c.AdvertiseAddr
	ml.AdvertisePort = c.AdvertisePort
	if ml.AdvertisePort == 0 {
		ml.AdvertisePort = c.BindPort
	}
	ml.Logger = newStdLogger(log.With("subsystem", "memberlist"))
	if len(keys) > 0 {
		ring, err := newKeyring(keys)
		if err != nil {
			return nil, err
		}
		ml.Keyring = ring
	}

	// serf.DefaultConfig panics when the hostname is unreadable; check first.
	if _, err := os.Hostname(); err != nil {
		return nil, fmt.Errorf("read hostname for serf defaults: %w", err)
	}
	sc := serf.DefaultConfig()
	sc.NodeName = c.NodeName
	sc.Tags = cloneTags(c.Tags)
	sc.EventCh = eventCh
	sc.MemberlistConfig = ml
	sc.Logger = newStdLogger(log.With("subsystem", "serf"))
	sc.SnapshotPath = c.SnapshotPath
	// A Leave is an operator's decision to leave for good; a restart must
	// not undo it. Crashes and restarts (Shutdown) still rejoin.
	sc.RejoinAfterLeave = false
	// serf only writes the keyring file on changes; New seeds it.
	if len(keys) > 0 {
		sc.KeyringFile = c.KeyringFile
	}
	// Every member's name, this node's included (validate), is checked by
	// the merge delegate's stricter rule, which counts and logs what it
	// refuses; serf's own check would run first and refuse uncounted.
	sc.ValidateNodeNames = false
	sc.Merge = gate
	sc.QueryResponseSizeLimit = MaxQueryResponse
	applyRetention(sc)
	if c.serfHook != nil {
		c.serfHook(sc)
	}
	return sc, nil
}

// cloneTags copies tags so later changes by the caller do not race serf.
func cloneTags(tags map[string]string) map[string]string {
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		out[k] = v
	}
	return out
}
