// Package config owns every user-facing YAML schema of vigie: the exporter's
// blackbox-compatible modules, discovery and target policy, and the router's
// configuration. It applies defaults, parses strictly (unknown keys are errors
// that name the line), validates at load time and never prints secrets.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Config is the exporter configuration: blackbox_exporter's `modules:` plus
// vigie's own top-level keys. A plain blackbox.yml is a valid Config.
type Config struct {
	Modules   map[string]Module `yaml:"modules"`
	Discovery DiscoveryConfig   `yaml:"discovery,omitempty"`
	Security  SecurityConfig    `yaml:"security,omitempty"`
}

// Probers lists the prober names a module may use.
var proberNames = []string{"http", "tcp", "icmp", "dns", "grpc", "unix", "websocket", "tls", "ftp", "ssh"}

// Module is one probe configuration, selected by `/probe?module=`.
type Module struct {
	Prober    string         `yaml:"prober,omitempty"`
	Timeout   time.Duration  `yaml:"timeout,omitempty"`
	HTTP      HTTPProbe      `yaml:"http,omitempty"`
	TCP       TCPProbe       `yaml:"tcp,omitempty"`
	ICMP      ICMPProbe      `yaml:"icmp,omitempty"`
	DNS       DNSProbe       `yaml:"dns,omitempty"`
	GRPC      GRPCProbe      `yaml:"grpc,omitempty"`
	Unix      UnixProbe      `yaml:"unix,omitempty"`
	Websocket WebsocketProbe `yaml:"websocket,omitempty"`
	TLS       TLSProbe       `yaml:"tls,omitempty"`
	FTP       FTPProbe       `yaml:"ftp,omitempty"`
	SSH       SSHProbe       `yaml:"ssh,omitempty"`
}

// defaultModule is what every module starts from before its YAML is applied.
// gRPC is deliberately absent: upstream gives a grpc module without a `grpc:`
// block no IP protocol fallback, and we keep that quirk.
//
// The blocks of the other probers get their defaults only when the module
// uses that prober, so that the module configuration printed in debug output
// stays upstream's for upstream's probers.
func defaultModule() Module {
	return Module{
		HTTP: defaultHTTPProbe(),
		TCP:  defaultTCPProbe(),
		ICMP: defaultICMPProbe(),
		DNS:  defaultDNSProbe(),
	}
}

// applyProberDefaults gives the prober's own block its defaults when the
// module has no such block.
func (m *Module) applyProberDefaults() {
	switch m.Prober {
	case "websocket":
		if !m.Websocket.present {
			m.Websocket = defaultWebsocketProbe()
		}
	case "tls":
		if !m.TLS.present {
			m.TLS = defaultTLSProbe()
		}
	case "ftp":
		if !m.FTP.present {
			m.FTP = defaultFTPProbe()
		}
	case "ssh":
		if !m.SSH.present {
			m.SSH = defaultSSHProbe()
		}
	}
}

// UnmarshalYAML applies the module defaults. It uses the function-style
// interface on purpose: yaml.v3 only keeps KnownFields (strict parsing) for
// nested structs decoded through it.
func (m *Module) UnmarshalYAML(unmarshal func(any) error) error {
	*m = defaultModule()
	type plain Module
	return unmarshal((*plain)(m))
}

func (m *Module) validate() error {
	if m.Prober == "" {
		return errors.New("prober must be set")
	}
	known := false
	for _, p := range proberNames {
		if p == m.Prober {
			known = true
			break
		}
	}
	if !known {
		return at(fmt.Errorf("prober '%s' is not valid (valid: %s)", m.Prober, strings.Join(proberNames, ", ")), "prober")
	}
	// Upstream refuses any dns block without a query name, even in modules of
	// other probers; we refuse it where it matters, so that the configuration
	// shown by /config (defaults included) loads again.
	if m.Prober == "dns" && m.DNS.QueryName == "" {
		return at(errors.New("query name must be set for DNS module"), "dns")
	}
	m.applyProberDefaults()
	if m.Timeout < 0 {
		return at(errors.New("timeout must not be negative"), "timeout")
	}
	checks := []struct {
		key string
		fn  func() error
	}{
		{"http", m.HTTP.validate},
		{"tcp", m.TCP.validate},
		{"icmp", m.ICMP.validate},
		{"dns", m.DNS.validate},
		{"grpc", m.GRPC.validate},
		{"unix", m.Unix.validate},
		{"websocket", m.Websocket.validate},
		{"tls", m.TLS.validate},
		{"ftp", m.FTP.validate},
		{"ssh", m.SSH.validate},
	}
	for _, c := range checks {
		if err := c.fn(); err != nil {
			return at(err, c.key)
		}
	}
	return nil
}

// Parse decodes and validates an exporter configuration. Errors name the
// line and the field.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	if err := decodeStrict(data, c); err != nil {
		return nil, err
	}
	if c.Modules == nil {
		c.Modules = map[string]Module{}
	}
	if err := locate(data, c.validate()); err != nil {
		return nil, err
	}
	return c, nil
}

// Load reads and parses an exporter configuration file. Relative file names
// inside it (body_file, password_file, …) are left as given, as upstream does.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("error reading config file: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("error parsing config file: %w", err)
	}
	return c, nil
}

func (c *Config) validate() error {
	names := make([]string, 0, len(c.Modules))
	for name := range c.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m := c.Modules[name]
		if err := m.validate(); err != nil {
			return at(err, "modules", name)
		}
		c.Modules[name] = m
	}
	if err := c.Discovery.validate(); err != nil {
		return at(err, "discovery")
	}
	if err := c.Security.validate(); err != nil {
		return at(err, "security")
	}
	return nil
}

// Marshal renders the configuration as YAML with secrets masked.
func (c *Config) Marshal() ([]byte, error) {
	return MarshalYAML(c)
}

// MarshalYAML renders v as YAML with a two-space indent (secrets masked by
// their types).
func MarshalYAML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeStrict decodes one YAML document, rejecting unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is an empty configuration
		}
		return FixYAMLSyntaxLine(err)
	}
	return nil
}
