package config

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestDiscoveryDefaults(t *testing.T) {
	c, err := Parse([]byte(`modules: {}
discovery:
  static:
    - files: ["targets/*.yml"]
  consul:
    - datacenter: dc1
      tags: [vigie]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Discovery.Static[0]
	if s.RefreshInterval != model.Duration(2*time.Second) || len(s.DefaultModules) != 0 {
		t.Errorf("static defaults: %+v", s)
	}
	k := c.Discovery.Consul[0]
	if k.Server != "localhost:8500" || k.Scheme != "http" || !k.AllowStale || k.PassingOnly ||
		k.RefreshInterval != model.Duration(time.Second) || k.Wait != model.Duration(2*time.Minute) || k.MetaPrefix != "vigie_" {
		t.Errorf("consul defaults: %+v", k)
	}
	if k.Datacenter != "dc1" || len(k.Tags) != 1 {
		t.Errorf("consul values: %+v", k)
	}
}

// A scheme is case-insensitive (RFC 3986): HTTPS is https, spelt the way the
// Consul client needs to turn TLS on.
func TestConsulSchemeCaseInsensitive(t *testing.T) {
	for in, want := range map[string]string{"HTTPS": "https", "Http": "http", "https": "https"} {
		c, err := Parse([]byte("modules: {}\ndiscovery:\n  consul:\n    - scheme: " + in + "\n"))
		if err != nil {
			t.Errorf("scheme %s: %v", in, err)
			continue
		}
		if got := c.Discovery.Consul[0].Scheme; got != want {
			t.Errorf("scheme %s loaded as %q, want %q", in, got, want)
		}
	}
}

func TestDiscoveryRoundTripMasksToken(t *testing.T) {
	c, err := Parse([]byte(`modules: {}
discovery:
  static:
    - files: ["a/*.yml", "b.yml"]
      default_modules: [http_2xx]
      refresh_interval: 5s
  consul:
    - server: consul.example.org:8501
      scheme: https
      token: s3cr3t-t0ken
      tls_config:
        ca_file: /etc/ssl/consul-ca.pem
      services: [web, api]
      tags: [vigie, prod]
      node_meta: {rack: r1}
      passing_only: true
      allow_stale: false
      refresh_interval: 3s
      wait: 5m
      default_modules: [tcp_connect]
      meta_prefix: probe_
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cr3t") {
		t.Errorf("token not masked:\n%s", out)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("marshalled discovery config does not parse: %v\n%s", err, out)
	}
	k := again.Discovery.Consul[0]
	if k.AllowStale || !k.PassingOnly || k.Wait != model.Duration(5*time.Minute) || k.MetaPrefix != "probe_" || k.NodeMeta["rack"] != "r1" {
		t.Errorf("values lost in the round trip: %+v\n%s", k, out)
	}
	if s := again.Discovery.Static[0]; s.RefreshInterval != model.Duration(5*time.Second) || s.DefaultModules[0] != "http_2xx" {
		t.Errorf("static values lost: %+v", s)
	}
}

func TestDiscoveryBadConfigs(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"static without files", "discovery:\n  static:\n    - refresh_interval: 1s\n", []string{"line 3", "discovery.static.[0].files: at least one file glob must be given"}},
		{"static bad glob", "discovery:\n  static:\n    - files: [ok.yml, 'bad[']\n", []string{"line 3", `invalid glob "bad["`}},
		{"static empty glob", "discovery:\n  static:\n    - files: ['']\n", []string{"empty file glob"}},
		{"static zero refresh", "discovery:\n  static:\n    - files: [a]\n      refresh_interval: 0s\n", []string{"line 4", "refresh_interval must be positive"}},
		{"static bad default module", "discovery:\n  static:\n    - files: [a]\n      default_modules: ['http 2xx']\n", []string{"line 4", `module name "http 2xx" is not valid`}},
		{"static unknown key", "discovery:\n  static:\n    - files: [a]\n      globs: [b]\n", []string{"line 4", "field globs not found"}},
		{"consul unknown key", "discovery:\n  consul:\n    - server: a:1\n      service: [x]\n", []string{"line 4", "field service not found"}},
		{"consul bad scheme", "discovery:\n  consul:\n    - scheme: ftp\n", []string{"line 3", `scheme "ftp" is not valid`}},
		{"consul empty server", "discovery:\n  consul:\n    - server: ''\n", []string{"line 3", "server must be set"}},
		{"consul token twice", "discovery:\n  consul:\n    - token: a\n      token_file: /b\n", []string{"at most one of token & token_file"}},
		{"consul wait too long", "discovery:\n  consul:\n    - wait: 11m\n", []string{"line 3", "wait must be positive and at most 10m"}},
		{"consul zero refresh", "discovery:\n  consul:\n    - refresh_interval: 0s\n", []string{"refresh_interval must be positive"}},
		{"consul empty tag", "discovery:\n  consul:\n    - tags: [vigie, '']\n", []string{"line 3", "empty tag"}},
		{"consul empty service", "discovery:\n  consul:\n    - services: ['']\n", []string{"empty service name"}},
		{"consul bad meta prefix", "discovery:\n  consul:\n    - meta_prefix: 'vigie-'\n", []string{"line 3", "meta_prefix"}},
		{"consul tls both ca", "discovery:\n  consul:\n    - tls_config:\n        ca: x\n        ca_file: y\n", []string{"at most one of ca, ca_file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
