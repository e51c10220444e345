package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	pconfig "github.com/prometheus/common/config"
	yaml "go.yaml.in/yaml/v3"

	"github.com/vigie-monitoring/vigie/internal/schema"
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

// MarshalYAML masks the values of every key but the public ones
// (IsPublicHeader, as for HTTP headers), so that /config and debug output
// do not print them.
func (m GRPCMetadata) MarshalYAML() (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string][]string, len(m))
	for k, vs := range m {
		if !schema.IsPublicHeader(k) {
			masked := make([]string, len(vs))
			for i := range vs {
				masked[i] = schema.SecretMask
			}
			vs = masked
		}
		out[k] = vs
	}
	return out, nil
}

// UnmarshalYAML applies the defaults of a grpc block.
func (p *GRPCProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*p = GRPCProbe{IPProtocolFallback: true}
	type plain GRPCProbe
	return unmarshal((*plain)(p))
}

func (p *GRPCProbe) validate() error {
	keys := make([]string, 0, len(p.Metadata))
	for k := range p.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := validateMetadataPair(k, p.Metadata[k]); err != nil {
			return schema.At(err, "metadata", k)
		}
	}
	return nil
}

// validateMetadataPair applies gRPC's rules for header fields at load time,
// so that a bad key or value is a config error rather than a failure of
// every probe. Keys are case-insensitive (gRPC sends them lowercased), as
// upstream accepts them.
func validateMetadataPair(key string, values []string) error {
	if key == "" {
		return errors.New("metadata key must not be empty")
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("invalid metadata key %q: only letters, digits, '-', '_' and '.' are allowed", key)
		}
	}
	// Binary values (keys ending in -bin) are base64-encoded on the wire.
	if strings.HasSuffix(strings.ToLower(key), "-bin") {
		return nil
	}
	for _, v := range values {
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				return fmt.Errorf("value of metadata key %q must be printable ASCII (use a key ending in -bin for binary values)", key)
			}
		}
	}
	return nil
}
