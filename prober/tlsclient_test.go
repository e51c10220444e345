package prober

import (
	"testing"

	pconfig "github.com/prometheus/common/config"
)

func TestNewTLSConfigServerName(t *testing.T) {
	cases := []struct {
		name       string
		cfg        pconfig.TLSConfig
		serverName string
		want       string
	}{
		{"the target's host", pconfig.TLSConfig{}, "example.org", "example.org"},
		{"server_name wins", pconfig.TLSConfig{ServerName: "vhost.example.org"}, "example.org", "vhost.example.org"},
		{"none", pconfig.TLSConfig{}, "", ""},
	}
	for _, tc := range cases {
		got, err := newTLSConfig(&tc.cfg, tc.serverName)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.ServerName != tc.want {
			t.Errorf("%s: server name %q, want %q", tc.name, got.ServerName, tc.want)
		}
	}

	_, err := newTLSConfig(&pconfig.TLSConfig{CAFile: "/nonexistent/ca.pem"}, "example.org")
	expectReason(t, err, "invalid tls_config: unable to read CA cert")
}
