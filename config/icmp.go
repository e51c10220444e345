package config

import (
	"errors"
	"runtime"

	"github.com/prometheus/common/model"
)

// DefaultICMPTTL is the TTL of outgoing echo requests unless configured.
const DefaultICMPTTL = 64

// ICMPProbe is the `icmp:` block of a module (blackbox-compatible, plus
// vigie's multi-packet mode).
type ICMPProbe struct {
	IPProtocol         string `yaml:"preferred_ip_protocol,omitempty"` // Defaults to "ip6".
	IPProtocolFallback bool   `yaml:"ip_protocol_fallback,omitempty"`
	SourceIPAddress    string `yaml:"source_ip_address,omitempty"`
	PayloadSize        int    `yaml:"payload_size,omitempty"`
	DontFragment       bool   `yaml:"dont_fragment,omitempty"`
	TTL                int    `yaml:"ttl,omitempty"`

	// vigie: number of echo requests per probe; 0 or 1 is upstream's single-packet probe.
	Packets int `yaml:"packets,omitempty"`
	// vigie: time between echo requests in multi-packet mode (default 1s).
	Interval model.Duration `yaml:"interval,omitempty"`
}

func defaultICMPProbe() ICMPProbe {
	return ICMPProbe{IPProtocolFallback: true, TTL: DefaultICMPTTL}
}

// UnmarshalYAML applies the defaults of an icmp block.
func (p *ICMPProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*p = defaultICMPProbe()
	type plain ICMPProbe
	return unmarshal((*plain)(p))
}

func (p *ICMPProbe) validate() error {
	if runtime.GOOS == "windows" && p.DontFragment {
		return at(errors.New(`"dont_fragment" is not supported on windows platforms`), "dont_fragment")
	}
	if p.TTL < 0 {
		return at(errors.New(`"ttl" cannot be negative`), "ttl")
	}
	if p.TTL > 255 {
		return at(errors.New(`"ttl" cannot exceed 255`), "ttl")
	}
	if p.PayloadSize < 0 {
		return at(errors.New(`"payload_size" cannot be negative`), "payload_size")
	}
	if p.Packets < 0 {
		return at(errors.New(`"packets" cannot be negative`), "packets")
	}
	if p.Packets > 1000 {
		return at(errors.New(`"packets" cannot exceed 1000`), "packets")
	}
	if p.Interval < 0 {
		return at(errors.New(`"interval" cannot be negative`), "interval")
	}
	return nil
}
