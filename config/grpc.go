package config

import (
	"fmt"

	pconfig "github.com/prometheus/common/config"
	yaml "go.yaml.in/yaml/v3"
)

// GRPCProbe is the `grpc:` block of a module (blackbox-compatible).
type GRPCProbe struct {
	Service             string            `yaml:"service,omitempty"`
	TLS                 bool              `yaml:"tls,omitempty"`
	TLSConfig           pconfig.TLSConfig `yaml:"tls_config,omitempty"`
	IPProtocolFallback  bool              `yaml:"ip_protocol_fallback,omitempty"`
	PreferredIPProtocol string            `yaml:"preferred_ip_protocol,omitempty"`
	Metadata            GRPCMetadata      `yaml:"metadata,omitempty"`
}

// GRPCMetadata is sent with the health check. Each key takes one value or a list.
type GRPCMetadata map[string][]string

// UnmarshalYAML accepts `key: value` and `key: [v1, v2]`.
func (m *GRPCMetadata) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: grpc metadata must be a mapping", node.Line)
	}
	out := GRPCMetadata{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, val := node.Content[i].Value, node.Content[i+1]
		switch val.Kind {
		case yaml.ScalarNode:
			out[key] = []string{val.Value}
		case yaml.SequenceNode:
			var vs []string
			if err := val.Decode(&vs); err != nil {
				return err
			}
			out[key] = vs
		default:
			return fmt.Errorf("line %d: grpc metadata %q must be a string or a list of strings", val.Line, key)
		}
	}
	*m = out
	return nil
}

// UnmarshalYAML applies the defaults of a grpc block.
func (p *GRPCProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*p = GRPCProbe{IPProtocolFallback: true}
	type plain GRPCProbe
	return unmarshal((*plain)(p))
}

func (p *GRPCProbe) validate() error {
	for k := range p.Metadata {
		for _, c := range k {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return at(fmt.Errorf("invalid metadata key %q: only lowercase letters, digits, '-', '_' and '.' are allowed", k), "metadata")
			}
		}
	}
	return nil
}
