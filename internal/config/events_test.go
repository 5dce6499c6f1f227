package config

import (
	"strconv"
	"strings"
	"testing"
)

func TestRouteTLSDecodes(t *testing.T) {
	cfg, err := Decode("agent.yaml", []byte(`events:
  embedded:
    route_tls:
      cert_file: /etc/kuma-agent/route.pem
      key_file: /etc/kuma-agent/route.key
      ca_file: /etc/kuma-agent/route-ca.pem
`))
	if err != nil {
		t.Fatal(err)
	}
	want := RouteTLS{CertFile: "/etc/kuma-agent/route.pem", KeyFile: "/etc/kuma-agent/route.key", CAFile: "/etc/kuma-agent/route-ca.pem"}
	if cfg.Events.Embedded.RouteTLS != want {
		t.Fatalf("route_tls = %+v, want %+v", cfg.Events.Embedded.RouteTLS, want)
	}
	if Default().Events.Embedded.RouteTLS != (RouteTLS{}) {
		t.Fatal("route TLS is on by default")
	}
}

func TestRouteTLSErrors(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"cert without key", "events:\n  embedded:\n    route_tls:\n      cert_file: /r.pem\n      ca_file: /ca.pem\n",
			[]string{`agent.yaml: events.embedded.route_tls.key_file: is required with cert_file "/r.pem", ca_file "/ca.pem"`}},
		{"key without cert", "events:\n  embedded:\n    route_tls: {key_file: /r.key, ca_file: /ca.pem}\n",
			[]string{`events.embedded.route_tls.cert_file: is required with key_file "/r.key"`}},
		{"no ca", "events:\n  embedded:\n    route_tls: {cert_file: /r.pem, key_file: /r.key}\n",
			[]string{`events.embedded.route_tls.ca_file: is required with cert_file "/r.pem", key_file "/r.key"`}},
		{"relative", "events:\n  embedded:\n    route_tls:\n      cert_file: r.pem\n      key_file: /r.key\n      ca_file: /ca.pem\n",
			[]string{`agent.yaml:4: events.embedded.route_tls.cert_file: must be an absolute path, not "r.pem"`}},
		{"unknown key", "events:\n  embedded:\n    route_tls:\n      cert: /r.pem\n",
			[]string{"agent.yaml:4: events.embedded.route_tls.cert: unknown key (valid here: ca_file, cert_file, key_file)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode("agent.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestJetStreamServersAndLeafPort(t *testing.T) {
	d := Default().Events.Embedded
	if d.JetStreamServers != 3 || d.LeafPort != 7422 {
		t.Fatalf("defaults: jetstream_servers %d, leaf_port %d; want 3 and 7422", d.JetStreamServers, d.LeafPort)
	}
	for _, n := range []int{0, 1, 3, 5, 7} {
		cfg, err := Decode("agent.yaml", []byte("events:\n  embedded:\n    jetstream_servers: "+strconv.Itoa(n)+"\n"))
		if err != nil || cfg.Events.Embedded.JetStreamServers != n {
			t.Errorf("jetstream_servers %d: %v (got %d)", n, err, cfg.Events.Embedded.JetStreamServers)
		}
	}
	for _, c := range []struct{ yaml, want string }{
		{"events:\n  embedded:\n    jetstream_servers: 2\n",
			"agent.yaml:3: events.embedded.jetstream_servers: must be odd (1, 3, 5, ...: JetStream's Raft needs a majority) or 0 (every node), not 2"},
		{"events:\n  embedded:\n    jetstream_servers: -1\n", "agent.yaml:3: events.embedded.jetstream_servers: must be odd"},
		{"events:\n  embedded:\n    leaf_port: 0\n", "agent.yaml:3: events.embedded.leaf_port: must be between 1 and 65535, not 0"},
		{"events:\n  embedded:\n    cluster_port: 7000\n    leaf_port: 7000\n",
			"agent.yaml:4: events.embedded.leaf_port: must differ from events.embedded.cluster_port"},
	} {
		_, err := Decode("agent.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
}
