package config

// DiscoveryConfig is vigie's `discovery:` block: where targets come from.
type DiscoveryConfig struct {
	Static []StaticSDConfig `yaml:"static,omitempty"`
	Consul []ConsulSDConfig `yaml:"consul,omitempty"`
}

// StaticSDConfig reads target files matching globs.
type StaticSDConfig struct {
	Files []string `yaml:"files"`
}

// ConsulSDConfig reads services from a Consul catalog.
type ConsulSDConfig struct {
	Server     string   `yaml:"server,omitempty"`
	Datacenter string   `yaml:"datacenter,omitempty"`
	TokenFile  string   `yaml:"token_file,omitempty"`
	Services   []string `yaml:"services,omitempty"`
	Tags       []string `yaml:"tags,omitempty"`
}

func (c *DiscoveryConfig) validate() error { return nil }
