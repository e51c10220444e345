package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	pconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// DiscoveryConfig is vigie's `discovery:` block: where targets come from.
// Discovered targets are published at /sd as Prometheus HTTP SD.
type DiscoveryConfig struct {
	Static []StaticSDConfig `yaml:"static,omitempty"`
	Consul []ConsulSDConfig `yaml:"consul,omitempty"`
}

// Defaults of the discovery blocks.
const (
	DefaultStaticRefreshInterval = model.Duration(2 * time.Second)
	DefaultConsulServer          = "localhost:8500"
	DefaultConsulScheme          = "http"
	DefaultConsulRefreshInterval = model.Duration(time.Second)
	DefaultConsulWait            = model.Duration(2 * time.Minute)
	DefaultConsulMetaPrefix      = "vigie_"
	// maxConsulWait is Consul's own cap on a blocking query's wait time.
	maxConsulWait = model.Duration(10 * time.Minute)
)

// StaticSDConfig reads target files matching globs. The files are polled:
// a changed file is re-read within refresh_interval, a new file matching a
// glob is picked up, a deleted file's targets are removed.
type StaticSDConfig struct {
	// Files are globs (filepath.Match syntax), relative to the working
	// directory unless absolute.
	Files []string `yaml:"files"`
	// DefaultModules apply to target groups that list no modules.
	DefaultModules []string `yaml:"default_modules,omitempty"`
	// RefreshInterval is how often the globs and files are checked.
	RefreshInterval model.Duration `yaml:"refresh_interval,omitempty"`
}

// UnmarshalYAML applies the defaults of a static block.
func (c *StaticSDConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = StaticSDConfig{RefreshInterval: DefaultStaticRefreshInterval}
	type plain StaticSDConfig
	return unmarshal((*plain)(c))
}

// ConsulSDConfig reads services from a Consul catalog with blocking queries.
type ConsulSDConfig struct {
	// Server is the Consul agent's HTTP address (host:port).
	Server     string `yaml:"server"`
	Scheme     string `yaml:"scheme"`
	Datacenter string `yaml:"datacenter,omitempty"`
	// Namespace and Partition are Consul Enterprise features.
	Namespace string            `yaml:"namespace,omitempty"`
	Partition string            `yaml:"partition,omitempty"`
	Token     pconfig.Secret    `yaml:"token,omitempty"`
	TokenFile string            `yaml:"token_file,omitempty"`
	TLSConfig pconfig.TLSConfig `yaml:"tls_config,omitempty"`
	// Services restricts discovery to these service names; empty means every
	// service that carries all Tags.
	Services []string `yaml:"services,omitempty"`
	// Tags: a service instance must carry all of them.
	Tags []string `yaml:"tags,omitempty"`
	// NodeMeta: only instances on nodes with all these metadata pairs.
	NodeMeta map[string]string `yaml:"node_meta,omitempty"`
	// PassingOnly drops instances whose health checks are not all passing.
	// Off by default: a monitoring tool must keep probing a failing service.
	PassingOnly bool `yaml:"passing_only"`
	// AllowStale lets any Consul server answer (cheaper, slightly stale).
	AllowStale bool `yaml:"allow_stale"`
	// RefreshInterval is the minimum time between two queries of one
	// watcher; it bounds the load when the catalog changes constantly.
	RefreshInterval model.Duration `yaml:"refresh_interval"`
	// Wait is how long a blocking query waits for a change.
	Wait model.Duration `yaml:"wait"`
	// DefaultModules apply to selected instances whose tags and meta name no
	// module.
	DefaultModules []string `yaml:"default_modules,omitempty"`
	// MetaPrefix prefixes the service meta keys and key=value tags read:
	// <prefix>modules, <prefix>scheme, <prefix>path.
	MetaPrefix string `yaml:"meta_prefix"`
}

// UnmarshalYAML applies the defaults of a consul block.
func (c *ConsulSDConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = ConsulSDConfig{
		Server:          DefaultConsulServer,
		Scheme:          DefaultConsulScheme,
		AllowStale:      true,
		RefreshInterval: DefaultConsulRefreshInterval,
		Wait:            DefaultConsulWait,
		MetaPrefix:      DefaultConsulMetaPrefix,
	}
	type plain ConsulSDConfig
	return unmarshal((*plain)(c))
}

func (c *DiscoveryConfig) validate() error {
	for i := range c.Static {
		if err := c.Static[i].validate(); err != nil {
			return atIndex(err, "static", i)
		}
	}
	for i := range c.Consul {
		if err := c.Consul[i].validate(); err != nil {
			return atIndex(err, "consul", i)
		}
	}
	return nil
}

func (c *StaticSDConfig) validate() error {
	if len(c.Files) == 0 {
		return at(errors.New("at least one file glob must be given"), "files")
	}
	for i, f := range c.Files {
		if strings.TrimSpace(f) == "" {
			return atIndex(errors.New("empty file glob"), "files", i)
		}
		if _, err := filepath.Match(f, ""); err != nil {
			return atIndex(fmt.Errorf("invalid glob %q: %w", f, err), "files", i)
		}
	}
	if err := validateModuleNames(c.DefaultModules); err != nil {
		return at(err, "default_modules")
	}
	if c.RefreshInterval <= 0 {
		return at(errors.New("refresh_interval must be positive"), "refresh_interval")
	}
	return nil
}

func (c *ConsulSDConfig) validate() error {
	if strings.TrimSpace(c.Server) == "" {
		return at(errors.New("server must be set"), "server")
	}
	if c.Scheme != "http" && c.Scheme != "https" {
		return at(fmt.Errorf("scheme %q is not valid (valid: http, https)", c.Scheme), "scheme")
	}
	if c.Token != "" && c.TokenFile != "" {
		return at(errors.New("at most one of token & token_file must be configured"), "token")
	}
	if err := c.TLSConfig.Validate(); err != nil {
		return at(err, "tls_config")
	}
	for i, s := range c.Services {
		if strings.TrimSpace(s) == "" {
			return atIndex(errors.New("empty service name"), "services", i)
		}
	}
	for i, s := range c.Tags {
		if strings.TrimSpace(s) == "" {
			return atIndex(errors.New("empty tag"), "tags", i)
		}
	}
	if err := validateModuleNames(c.DefaultModules); err != nil {
		return at(err, "default_modules")
	}
	if c.RefreshInterval <= 0 {
		return at(errors.New("refresh_interval must be positive"), "refresh_interval")
	}
	if c.Wait <= 0 || c.Wait > maxConsulWait {
		return at(fmt.Errorf("wait must be positive and at most %s (Consul's limit)", maxConsulWait), "wait")
	}
	if c.MetaPrefix != "" && !model.LegacyValidation.IsValidLabelName(c.MetaPrefix+"x") {
		return at(fmt.Errorf("meta_prefix %q must be made of letters, digits and underscores", c.MetaPrefix), "meta_prefix")
	}
	return nil
}

// validateModuleNames checks the shape of module names only: whether a module
// exists is checked where targets are read, as a warning, because discovery
// files may be shared by exporters with different module sets.
func validateModuleNames(names []string) error {
	for i, m := range names {
		if strings.TrimSpace(m) == "" || strings.ContainsAny(m, " \t,") {
			return at(fmt.Errorf("module name %q is not valid", m), itoa(i))
		}
	}
	return nil
}
