// Package config is vigie_exporter's configuration schema: blackbox_exporter's
// modules (plus vigie's own probers), discovery and the target policy. It
// applies defaults, parses strictly (unknown keys are errors that name the
// line), validates at load time and never prints secrets. The router's
// schema is alertrouter/config; what both share is in internal/schema.
package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// Config is the exporter configuration: blackbox_exporter's `modules:` plus
// vigie's own top-level keys. A plain blackbox.yml is a valid Config.
type Config struct {
	Modules   map[string]Module `yaml:"modules"`
	Discovery DiscoveryConfig   `yaml:"discovery,omitempty"`
	Security  SecurityConfig    `yaml:"security,omitempty"`
}

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

// UnmarshalYAML applies the module defaults. It uses the function-style
// interface on purpose: yaml.v3 only keeps KnownFields (strict parsing) for
// nested structs decoded through it.
func (m *Module) UnmarshalYAML(unmarshal func(any) error) error {
	*m = defaultModule()
	type plain Module
	return unmarshal((*plain)(m))
}

func (m *Module) validate() error {
	if err := m.validateProber(); err != nil {
		return err
	}
	if m.Timeout < 0 {
		return schema.At(errors.New("timeout must not be negative"), "timeout")
	}
	for _, p := range probers {
		if err := p.validate(m); err != nil {
			return schema.At(err, p.Name)
		}
	}
	return nil
}

// Parse decodes and validates an exporter configuration. Errors name the
// line and the field.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	if err := schema.DecodeStrict(data, c); err != nil {
		return nil, err
	}
	if c.Modules == nil {
		c.Modules = map[string]Module{}
	}
	if err := schema.Locate(data, c.validate()); err != nil {
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
			return schema.At(err, "modules", name)
		}
		c.Modules[name] = m
	}
	if err := c.Discovery.validate(); err != nil {
		return schema.At(err, "discovery")
	}
	if err := c.Security.validate(); err != nil {
		return schema.At(err, "security")
	}
	return nil
}

// Marshal renders the configuration as YAML with secrets masked.
func (c *Config) Marshal() ([]byte, error) {
	return schema.MarshalYAML(c)
}
