package config

import (
	"fmt"

	"github.com/miekg/dns"
	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// DNSProbe is the `dns:` block of a module (blackbox-compatible).
type DNSProbe struct {
	IPProtocol         string            `yaml:"preferred_ip_protocol,omitempty"`
	IPProtocolFallback bool              `yaml:"ip_protocol_fallback,omitempty"`
	DNSOverTLS         bool              `yaml:"dns_over_tls,omitempty"`
	TLSConfig          pconfig.TLSConfig `yaml:"tls_config,omitempty"`
	SourceIPAddress    string            `yaml:"source_ip_address,omitempty"`
	TransportProtocol  string            `yaml:"transport_protocol,omitempty"`
	QueryClass         string            `yaml:"query_class,omitempty"` // Defaults to IN.
	QueryName          string            `yaml:"query_name,omitempty"`
	QueryType          string            `yaml:"query_type,omitempty"`        // Defaults to ANY.
	Recursion          bool              `yaml:"recursion_desired,omitempty"` // Defaults to true.
	ValidRcodes        []string          `yaml:"valid_rcodes,omitempty"`      // Defaults to NOERROR.
	ValidateAnswer     DNSRRValidator    `yaml:"validate_answer_rrs,omitempty"`
	ValidateAuthority  DNSRRValidator    `yaml:"validate_authority_rrs,omitempty"`
	ValidateAdditional DNSRRValidator    `yaml:"validate_additional_rrs,omitempty"`
}

// DNSRRValidator holds the regexps matched against one section's records
// (miekg/dns RR.String(), tab separated).
type DNSRRValidator struct {
	FailIfMatchesRegexp     []Regexp `yaml:"fail_if_matches_regexp,omitempty"`
	FailIfAllMatchRegexp    []Regexp `yaml:"fail_if_all_match_regexp,omitempty"`
	FailIfNotMatchesRegexp  []Regexp `yaml:"fail_if_not_matches_regexp,omitempty"`
	FailIfNoneMatchesRegexp []Regexp `yaml:"fail_if_none_matches_regexp,omitempty"`
}

func defaultDNSProbe() DNSProbe {
	return DNSProbe{IPProtocolFallback: true, Recursion: true}
}

// UnmarshalYAML applies the defaults of a dns block.
func (p *DNSProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*p = defaultDNSProbe()
	type plain DNSProbe
	return unmarshal((*plain)(p))
}

func (p *DNSProbe) validate() error {
	if p.QueryClass != "" {
		if _, ok := dns.StringToClass[p.QueryClass]; !ok {
			return schema.At(fmt.Errorf("query class '%s' is not valid", p.QueryClass), "query_class")
		}
	}
	if p.QueryType != "" {
		if _, ok := dns.StringToType[p.QueryType]; !ok {
			return schema.At(fmt.Errorf("query type '%s' is not valid", p.QueryType), "query_type")
		}
	}
	switch p.TransportProtocol {
	case "", "udp", "tcp":
	default:
		return schema.At(fmt.Errorf("transport protocol '%s' is not valid (valid: udp, tcp)", p.TransportProtocol), "transport_protocol")
	}
	for i, rc := range p.ValidRcodes {
		if _, ok := dns.StringToRcode[rc]; !ok {
			return schema.AtIndex(fmt.Errorf("rcode '%s' is not valid", rc), "valid_rcodes", i)
		}
	}
	return nil
}
