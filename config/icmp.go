package config

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// DefaultICMPTTL is the TTL of outgoing echo requests unless configured.
const DefaultICMPTTL = 64

// MaxICMPPackets bounds `packets`: a probe is one scrape, not a long-running
// ping.
const MaxICMPPackets = 1000

// ICMPProbe is the `icmp:` block of a module (blackbox-compatible, plus
// vigie's multi-packet mode).
//
// The vigie keys have no default in the struct on purpose: their zero value
// means "upstream behaviour" and is omitted when the configuration is printed,
// so that the module configuration of a blackbox module reads as upstream's.
type ICMPProbe struct {
	IPProtocol         string `yaml:"preferred_ip_protocol,omitempty"` // Defaults to "ip6".
	IPProtocolFallback bool   `yaml:"ip_protocol_fallback,omitempty"`
	SourceIPAddress    string `yaml:"source_ip_address,omitempty"`
	PayloadSize        int    `yaml:"payload_size,omitempty"`
	DontFragment       bool   `yaml:"dont_fragment,omitempty"`
	TTL                int    `yaml:"ttl,omitempty"`

	// vigie: number of echo requests per probe; 0 or 1 is upstream's
	// single-packet probe.
	Packets int `yaml:"packets,omitempty"`
	// vigie: time between echo requests in multi-packet mode (0 = 1s).
	Interval model.Duration `yaml:"interval,omitempty"`
	// vigie: in multi-packet mode, fail when the fraction of unanswered
	// echo requests is above this (0 ≤ x < 1). Unset: any reply succeeds.
	FailIfLossRatioAbove *float64 `yaml:"fail_if_loss_ratio_above,omitempty"`
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

// MultiPacket reports whether the probe sends more than one echo request
// (vigie's mode) rather than upstream's single one.
func (p ICMPProbe) MultiPacket() bool { return p.Packets > 1 }

func (p *ICMPProbe) validate() error {
	if runtime.GOOS == "windows" && p.DontFragment {
		return schema.At(errors.New(`"dont_fragment" is not supported on windows platforms`), "dont_fragment")
	}
	if p.TTL < 0 {
		return schema.At(errors.New(`"ttl" cannot be negative`), "ttl")
	}
	if p.TTL > 255 {
		return schema.At(errors.New(`"ttl" cannot exceed 255`), "ttl")
	}
	if p.PayloadSize < 0 {
		return schema.At(errors.New(`"payload_size" cannot be negative`), "payload_size")
	}
	if p.Packets < 0 {
		return schema.At(errors.New(`"packets" cannot be negative`), "packets")
	}
	if p.Packets > MaxICMPPackets {
		return schema.At(fmt.Errorf(`"packets" cannot exceed %d`, MaxICMPPackets), "packets")
	}
	if p.Interval < 0 {
		return schema.At(errors.New(`"interval" cannot be negative`), "interval")
	}
	// The multi-packet keys do nothing for a single echo request; saying so
	// beats ignoring them.
	if p.Interval != 0 && !p.MultiPacket() {
		return schema.At(errors.New(`"interval" needs "packets" greater than 1`), "interval")
	}
	if r := p.FailIfLossRatioAbove; r != nil {
		if !p.MultiPacket() {
			return schema.At(errors.New(`"fail_if_loss_ratio_above" needs "packets" greater than 1`), "fail_if_loss_ratio_above")
		}
		if !(*r >= 0 && *r < 1) {
			return schema.At(fmt.Errorf(`"fail_if_loss_ratio_above" must be at least 0 and less than 1, got %v`, *r), "fail_if_loss_ratio_above")
		}
	}
	return nil
}
