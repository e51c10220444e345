package config

import (
	"errors"

	pconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// TCPProbe is the `tcp:` block of a module (blackbox-compatible).
type TCPProbe struct {
	IPProtocol         string            `yaml:"preferred_ip_protocol,omitempty"`
	IPProtocolFallback bool              `yaml:"ip_protocol_fallback,omitempty"`
	SourceIPAddress    string            `yaml:"source_ip_address,omitempty"`
	QueryResponse      []QueryResponse   `yaml:"query_response,omitempty"`
	TLS                bool              `yaml:"tls,omitempty"`
	TLSConfig          pconfig.TLSConfig `yaml:"tls_config,omitempty"`

	// vigie: fail when the leaf certificate expires within this duration.
	FailIfCertExpiresWithin model.Duration `yaml:"fail_if_cert_expires_within,omitempty"`
}

// UnixProbe is the `unix:` block of a module: query/response over a unix socket.
type UnixProbe struct {
	QueryResponse []QueryResponse   `yaml:"query_response,omitempty"`
	TLS           bool              `yaml:"tls,omitempty"`
	TLSConfig     pconfig.TLSConfig `yaml:"tls_config,omitempty"`
}

// QueryResponse is one step of a tcp/unix/websocket conversation.
type QueryResponse struct {
	Expect      Regexp  `yaml:"expect,omitempty"`
	ExpectBytes string  `yaml:"expect_bytes,omitempty"`
	Labels      []Label `yaml:"labels,omitempty"`
	Send        string  `yaml:"send,omitempty"`
	StartTLS    bool    `yaml:"starttls,omitempty"`
}

// Label is a probe_expect_info label whose value may reference regexp groups.
type Label struct {
	Name  string `yaml:"name,omitempty"`
	Value string `yaml:"value,omitempty"`
}

func defaultTCPProbe() TCPProbe { return TCPProbe{IPProtocolFallback: true} }

// UnmarshalYAML applies the defaults of a tcp block.
func (p *TCPProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*p = defaultTCPProbe()
	type plain TCPProbe
	return unmarshal((*plain)(p))
}

func (p *TCPProbe) validate() error {
	if p.FailIfCertExpiresWithin < 0 {
		return at(errors.New("fail_if_cert_expires_within must not be negative"), "fail_if_cert_expires_within")
	}
	return validateQueryResponses(p.QueryResponse)
}

func (p *UnixProbe) validate() error { return validateQueryResponses(p.QueryResponse) }

func validateQueryResponses(qrs []QueryResponse) error {
	for i, qr := range qrs {
		if qr.Expect.IsSet() && qr.ExpectBytes != "" {
			return atIndex(errors.New("expect and expect_bytes cannot be used together in one query_response entry"), "query_response", i)
		}
		for j, l := range qr.Labels {
			if !model.LegacyValidation.IsValidLabelName(l.Name) {
				return at(errors.New("invalid label name "+quote(l.Name)), "query_response", itoa(i), "labels", itoa(j))
			}
		}
		if len(qr.Labels) > 0 && !qr.Expect.IsSet() {
			return atIndex(errors.New("labels require an expect regexp to take their values from"), "query_response", i)
		}
	}
	return nil
}
