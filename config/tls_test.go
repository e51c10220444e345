package config

import (
	"strings"
	"testing"
	"time"
)

func TestTLSProbeDefaults(t *testing.T) {
	c, err := Parse([]byte("modules:\n  bare:\n    prober: tls\n  m:\n    prober: tls\n    tls:\n      fail_if_cert_expires_within: 14d\n      tls_config:\n        server_name: example.org\n        min_version: TLS12\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bare", "m"} {
		if !c.Modules[name].TLS.IPProtocolFallback {
			t.Errorf("module %s: ip_protocol_fallback must default to true", name)
		}
	}
	m := c.Modules["m"].TLS
	if got := time.Duration(m.FailIfCertExpiresWithin); got != 14*24*time.Hour {
		t.Errorf("fail_if_cert_expires_within = %v, want 336h", got)
	}
	if m.TLSConfig.ServerName != "example.org" || m.TLSConfig.MinVersion == 0 {
		t.Errorf("tls_config = %+v", m.TLSConfig)
	}
}

func TestTLSProbeValidation(t *testing.T) {
	cases := []struct {
		name, block string
		want        []string
	}{
		{"bad source address", "      source_ip_address: nope\n", []string{"line 5", `tls.source_ip_address: source_ip_address "nope" is not an IP address`}},
		{"max below min", "      tls_config:\n        min_version: TLS13\n        max_version: TLS12\n", []string{"line 7", "max_version must be greater than or equal to min_version"}},
		{"unknown version", "      tls_config:\n        min_version: TLS14\n", []string{"TLS14"}},
		{"ca twice", "      tls_config:\n        ca: x\n        ca_file: y\n", []string{"at most one of ca, ca_file & ca_ref must be configured"}},
		{"bad duration", "      fail_if_cert_expires_within: soon\n", []string{"soon"}},
		{"unknown key", "      fail_if_expired: true\n", []string{"fail_if_expired"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("modules:\n  m:\n    prober: tls\n    tls:\n" + tc.block))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.block)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
