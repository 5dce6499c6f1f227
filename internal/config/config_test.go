package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kuma-agent/kuma-agent/internal/yamlstrict"
)

func TestExampleConfigIsTheDefault(t *testing.T) {
	// The shipped example documents the defaults; if they drift, this fails.
	cfg, err := Load(filepath.Join("..", "..", "packaging", "agent.yaml"))
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	want := Default()
	// yaml decodes an empty list as an empty, non-nil slice.
	if len(cfg.Roles) != 0 || len(cfg.Checks.Disabled) != 0 || len(cfg.Checks.NTP.Servers) != 0 || len(cfg.Checks.Ports.Overrides) != 0 ||
		len(cfg.Checks.Intervals) != 0 || len(cfg.Mesh.RetryJoin) != 0 || len(cfg.Checks.Certs.ExtraPaths) != 0 {
		t.Fatalf("example sets non-default lists: %+v", cfg)
	}
	cfg.Roles, cfg.Checks.Disabled, cfg.Checks.NTP.Servers, cfg.Checks.Ports.Overrides = nil, nil, nil, nil
	cfg.Checks.Intervals, cfg.Mesh.RetryJoin = nil, nil
	cfg.Checks.Certs.ExtraPaths = nil
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("example config differs from Default():\n got  %+v\n want %+v", cfg, want)
	}
}

func TestDecodeOverridesDefaults(t *testing.T) {
	cfg, err := Decode("a.yaml", []byte(`
node_name: kuma-1.example.com
roles: [core, lb]
checks:
  ntp:
    servers: [127.0.0.1:11123]
    warn_offset: 50ms
  disk:
    min_free: 10GB
  ports:
    overrides: {raft: 7210}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName != "kuma-1.example.com" || len(cfg.Roles) != 2 || cfg.Roles[1] != "lb" {
		t.Errorf("node/roles not decoded: %+v", cfg)
	}
	if cfg.Checks.NTP.WarnOffset != 50*time.Millisecond || cfg.Checks.NTP.CritOffset != time.Second {
		t.Errorf("ntp thresholds: %+v", cfg.Checks.NTP)
	}
	if cfg.Checks.Disk.MinFree != 10_000_000_000 {
		t.Errorf("min_free = %d", cfg.Checks.Disk.MinFree)
	}
	if cfg.Checks.Ports.Overrides["raft"] != 7210 {
		t.Errorf("overrides = %v", cfg.Checks.Ports.Overrides)
	}
	if cfg.Paths.HostsFile != "/etc/hosts" {
		t.Errorf("untouched default lost: %q", cfg.Paths.HostsFile)
	}
}

func TestDecodeErrorsNameFileLineKey(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"unknown top key", "node_name: a.b\nnodename: x\n", []string{"agent.yaml:2: nodename: unknown key", "valid here:", "node_name"}},
		{"unknown nested key", "checks:\n  ntp:\n    servers: []\n    offset: 1s\n", []string{"agent.yaml:4: checks.ntp.offset: unknown key", "warn_offset"}},
		{"wrong type", "checks:\n  concurrency: many\n", []string{"agent.yaml:2: checks.concurrency:", "many"}},
		{"bad duration", "checks:\n  interval: soon\n", []string{"agent.yaml:2: checks.interval:"}},
		{"bad size", "checks:\n  disk:\n    min_free: lots\n", []string{"agent.yaml:3: checks.disk.min_free:", "invalid size"}},
		{"bad role", "roles:\n  - core\n  - king\n", []string{"agent.yaml:3: roles[1]:", "unknown role \"king\""}},
		{"bad value", "checks:\n  ntp:\n    warn_offset: 2s\n", []string{"agent.yaml:3: checks.ntp.warn_offset: must be less than"}},
		{"bad port name", "checks:\n  ports:\n    overrides: {rafty: 1}\n", []string{"agent.yaml:3: checks.ports.overrides:", "rafty"}},
		{"relative path", "paths:\n  hosts_file: etc/hosts\n", []string{"agent.yaml:2: paths.hosts_file: must be an absolute path"}},
		{"syntax", "checks:\n  interval: 1s\n   timeout: 2s\n", []string{"agent.yaml:3:", "invalid YAML"}},
		{"not a mapping", "- a\n- b\n", []string{"agent.yaml:1:", "top level must be a mapping"}},
		{"alias", "a: &x 1\nnode_name: *x\n", []string{"agent.yaml:2:", "aliases"}},
		{"two documents", "node_name: a.b\n---\nnode_name: c.d\n", []string{"more than one YAML document"}},
		{"log level", "log_level: loud\n", []string{"agent.yaml:1: log_level: must be one of"}},
		{"max procs", "agent:\n  max_procs: -1\n", []string{"agent.yaml:2: agent.max_procs: must be between 0", "not -1"}},
		{"gc percent too low", "agent:\n  gc_percent: 5\n", []string{"agent.yaml:2: agent.gc_percent: must be 0 (Go's default, 100) or between 10 and 1000", "not 5"}},
		{"gc percent off", "agent:\n  gc_percent: -1\n", []string{"agent.yaml:2: agent.gc_percent:", "not -1"}},
		{"gc percent just under", "agent:\n  gc_percent: 9\n", []string{"agent.yaml:2: agent.gc_percent:", "not 9"}},
		{"gc percent just over", "agent:\n  gc_percent: 1001\n", []string{"agent.yaml:2: agent.gc_percent:", "not 1001"}},
		{"exe pages too often", "agent:\n  release_exe_pages_every: 59s\n", []string{"agent.yaml:2: agent.release_exe_pages_every: must be 0 (never) or at least 1m0s, not 59s"}},
		{"exe pages negative", "agent:\n  release_exe_pages_every: -1m\n", []string{"agent.yaml:2: agent.release_exe_pages_every:", "not -1m0s"}},
		{"mesh port", "mesh:\n  port: 70000\n", []string{"agent.yaml:2: mesh.port: must be between"}},
		{"mesh addr", "mesh:\n  bind_addr: eth0\n", []string{"agent.yaml:2: mesh.bind_addr: must be an IP"}},
		{"http addr", "agent:\n  http_addr: localhost\n", []string{"agent.yaml:2: agent.http_addr:"}},
		{"interval", "checks:\n  intervals:\n    ntp: -1s\n", []string{"agent.yaml:3: checks.intervals.ntp: must be a positive"}},
		{"skew", "checks:\n  clock_skew:\n    warn: 5s\n", []string{"agent.yaml:3: checks.clock_skew.warn: must be less than"}},
		// Finding 6: `concurrency: 1.5` was taken as 1 without a word.
		{"float for an integer", "checks:\n  concurrency: 1.5\n", []string{"agent.yaml:2: checks.concurrency: must be an integer", "not 1.5"}},
		{"exponent for an integer", "mesh:\n  port: 7.9e3\n", []string{"agent.yaml:2: mesh.port: must be an integer", "not 7.9e3"}},
		{"float in a map of integers", "checks:\n  ports:\n    overrides: {raft: 7210.5}\n", []string{"agent.yaml:3: checks.ports.overrides.raft: must be an integer"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode("agent.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Errorf("error is %T, want config.Errors", err)
			}
		})
	}
}

func TestDecodeReportsAllErrors(t *testing.T) {
	_, err := Decode("x.yaml", []byte("a: 1\nchecks:\n  b: 2\n"))
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("want 2 errors, got %v", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	// `config check` prints yaml.Marshal(cfg); what it prints must load back.
	b, err := yaml.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Decode("printed.yaml", b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	// nil and empty lists differ only in memory; compare what is printed.
	if b2, _ := yaml.Marshal(cfg); string(b2) != string(b) {
		t.Errorf("round trip differs:\n%s\nvs\n%s", b, b2)
	}
}

func TestEmptyFileIsDefault(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "---\n"} {
		cfg, err := Decode("e.yaml", []byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if !reflect.DeepEqual(cfg, Default()) {
			t.Errorf("%q: not default", in)
		}
	}
}

func TestLoadRefusesHugeAndMissing(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", MaxFileSize+10)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "big.yaml") {
		t.Errorf("huge file: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "nope.yaml")); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("missing file: %v", err)
	}
	// Load reads through the pipeline's reader, which refuses anything
	// but a regular file (a FIFO used to block Load forever in open(2);
	// yamlstrict's TestReadFileRefusesFIFO has the FIFO).
	var es Errors
	if _, err := Load(dir); !errors.Is(err, yamlstrict.ErrNotRegular) || !errors.As(err, &es) || !strings.HasPrefix(err.Error(), dir+": is a directory") {
		t.Errorf("directory: %v", err)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{
		"32GiB": 32 * GiB, "32GB": 32e9, "500M": 500 * MiB, "1024": 1024, "1.5KiB": 1536, "2 TB": 2e12,
	} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%q = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GB", "-1GB", "1XB", "1e999GB", "1.2.3G"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	if s := (32 * GiB).String(); s != "32GiB" {
		t.Errorf("String = %q", s)
	}
}

func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "packaging", "agent.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("checks:\n  ntp:\n    warn_offset: 2s\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("roles: [core, lb]\npaths: {hosts_file: /x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Decode("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if verr := cfg.Validate(); verr != nil {
			t.Fatalf("Decode accepted a config that Validate rejects: %v", verr)
		}
	})
}

// TestReleaseExePagesBounds: never (0), the shortest period and a long
// one are accepted.
func TestReleaseExePagesBounds(t *testing.T) {
	for _, v := range []time.Duration{0, time.Minute, 24 * time.Hour} {
		cfg := Default()
		cfg.Agent.ReleaseExePagesEvery = v
		if err := cfg.Validate(); err != nil {
			t.Errorf("release_exe_pages_every %s refused: %v", v, err)
		}
	}
}

// TestGCPercentBounds: the ends of agent.gc_percent's range and 0 (Go's
// default) are accepted.
func TestGCPercentBounds(t *testing.T) {
	for _, v := range []int{0, 10, 100, 1000} {
		cfg := Default()
		cfg.Agent.GCPercent = v
		if err := cfg.Validate(); err != nil {
			t.Errorf("gc_percent %d refused: %v", v, err)
		}
	}
}
