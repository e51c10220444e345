package config

import (
	"errors"
	"fmt"
	"net"

	pconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// TLSProbe is the `tls:` block of a vigie tls module: TCP connect and TLS
// handshake only, to check a certificate.
type TLSProbe struct {
	IPProtocol         string            `yaml:"preferred_ip_protocol,omitempty"`
	IPProtocolFallback bool              `yaml:"ip_protocol_fallback,omitempty"`
	SourceIPAddress    string            `yaml:"source_ip_address,omitempty"`
	TLSConfig          pconfig.TLSConfig `yaml:"tls_config,omitempty"`
	// FailIfCertExpiresWithin fails the probe when the leaf certificate
	// expires within this duration (e.g. 336h or 14d).
	FailIfCertExpiresWithin model.Duration `yaml:"fail_if_cert_expires_within,omitempty"`

	present bool // the module has this block
}

func defaultTLSProbe() TLSProbe { return TLSProbe{IPProtocolFallback: true} }

// UnmarshalYAML applies the defaults of a tls block.
func (p *TLSProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*p = defaultTLSProbe()
	p.present = true
	type plain TLSProbe
	return unmarshal((*plain)(p))
}

func (p *TLSProbe) validate() error {
	if p.FailIfCertExpiresWithin < 0 {
		return schema.At(errors.New("fail_if_cert_expires_within must not be negative"), "fail_if_cert_expires_within")
	}
	if p.SourceIPAddress != "" && net.ParseIP(p.SourceIPAddress) == nil {
		return schema.At(fmt.Errorf("source_ip_address %q is not an IP address", p.SourceIPAddress), "source_ip_address")
	}
	// Checked here so that the mistake is a configuration error rather than
	// the failure of every probe.
	if tc := &p.TLSConfig; tc.MinVersion != 0 && tc.MaxVersion != 0 && tc.MaxVersion < tc.MinVersion {
		return schema.At(errors.New("max_version must be greater than or equal to min_version"), "tls_config", "max_version")
	}
	return nil
}
