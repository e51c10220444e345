package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	pconfig "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// Cluster defaults (cluster.consul).
const (
	DefaultConsulAddress   = "127.0.0.1:8500"
	DefaultConsulScheme    = "http"
	DefaultConsulKeyPrefix = "vigie/router"
	DefaultConsulService   = "vigie-router"
)

// ClusterConfig makes the router a member of a cluster of routers that
// coordinate through Consul: each check is probed by one live member,
// notifications are delivered once by the cluster, silences are shared.
// Every member has the same configuration but its name and advertise_url.
type ClusterConfig struct {
	// Name is this member's name, unique in the cluster (default: the
	// host name).
	Name string `yaml:"name,omitempty"`
	// AdvertiseURL is how peers and users reach this member (default:
	// --web.external-url, or the listen address).
	AdvertiseURL string       `yaml:"advertise_url,omitempty"`
	Consul       ConsulConfig `yaml:"consul,omitempty"`
	// HTTPConfig is how a member authenticates to the others when it asks
	// them over HTTP (their advertise_url): credentials their
	// --web.config.file requires, the CA that verifies an https
	// advertise_url, a proxy. Nil: no credentials, the system's CAs.
	HTTPConfig *pconfig.HTTPClientConfig `yaml:"http_config,omitempty"`
}

// PeerHTTPConfig is the http_config members ask each other with: the
// block's, or the defaults (no credentials) without one.
func (c *ClusterConfig) PeerHTTPConfig() pconfig.HTTPClientConfig {
	if c.HTTPConfig == nil {
		return pconfig.DefaultHTTPClientConfig
	}
	return *c.HTTPConfig
}

// ConsulConfig is how a member reaches its Consul agent.
type ConsulConfig struct {
	Address   string         `yaml:"address,omitempty"`
	Scheme    string         `yaml:"scheme,omitempty"`
	Token     pconfig.Secret `yaml:"token,omitempty"`
	TokenFile string         `yaml:"token_file,omitempty"`
	// KeyPrefix is the Consul KV folder that holds all cluster state.
	KeyPrefix string `yaml:"key_prefix,omitempty"`
	// Service is the service name members register under.
	Service string `yaml:"service,omitempty"`
}

// UnmarshalYAML applies the defaults of the consul block.
func (c *ConsulConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultConsulConfig()
	type plain ConsulConfig
	return unmarshal((*plain)(c))
}

// DefaultConsulConfig is the consul block's defaults.
func DefaultConsulConfig() ConsulConfig {
	return ConsulConfig{Address: DefaultConsulAddress, Scheme: DefaultConsulScheme, KeyPrefix: DefaultConsulKeyPrefix, Service: DefaultConsulService}
}

// UnmarshalYAML applies the defaults of the cluster block (a block
// without consul gets the consul defaults).
func (c *ClusterConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = ClusterConfig{Consul: DefaultConsulConfig()}
	type plain ClusterConfig
	err := unmarshal((*plain)(c))
	var te *yaml.TypeError
	if err != nil && !errors.As(err, &te) {
		// http_config validates itself as it is read (the one block
		// here that does): its errors are given the key they are about.
		return schema.At(err, "cluster", "http_config")
	}
	return err
}

// memberName is what Consul accepts in a service id, minus the prefix we
// add: letters, digits, '-', '_' and '.'.
var memberName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func (c *ClusterConfig) validate() error {
	if c.Name != "" && !memberName.MatchString(c.Name) {
		return schema.At(fmt.Errorf("%q is not a member name: use up to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Name), "name")
	}
	if c.AdvertiseURL != "" {
		if err := validateHTTPURL(c.AdvertiseURL); err != nil {
			return schema.At(err, "advertise_url")
		}
	}
	if err := c.Consul.validate(); err != nil {
		return schema.At(err, "consul")
	}
	if c.HTTPConfig != nil {
		if err := validatePeerHTTPConfig(c.HTTPConfig); err != nil {
			return schema.At(err, "http_config")
		}
	}
	return nil
}

// validatePeerHTTPConfig checks the cluster's http_config: what
// HTTPClientConfig checks, and that the files it names can be read now
// (a member that cannot read them would otherwise find every other
// member "unanswered" at its first request, not at start or reload).
func validatePeerHTTPConfig(h *pconfig.HTTPClientConfig) error {
	if err := h.Validate(); err != nil {
		return err
	}
	type file struct {
		path string
		key  []string
	}
	files := []file{
		{h.BearerTokenFile, []string{"bearer_token_file"}},
		{h.TLSConfig.CAFile, []string{"tls_config", "ca_file"}},
		{h.TLSConfig.CertFile, []string{"tls_config", "cert_file"}},
		{h.TLSConfig.KeyFile, []string{"tls_config", "key_file"}},
	}
	if a := h.BasicAuth; a != nil {
		files = append(files, file{a.UsernameFile, []string{"basic_auth", "username_file"}}, file{a.PasswordFile, []string{"basic_auth", "password_file"}})
	}
	if a := h.Authorization; a != nil {
		files = append(files, file{a.CredentialsFile, []string{"authorization", "credentials_file"}})
	}
	if o := h.OAuth2; o != nil {
		files = append(files, file{o.ClientSecretFile, []string{"oauth2", "client_secret_file"}})
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		r, err := os.Open(f.path)
		if err != nil {
			return schema.At(fmt.Errorf("cannot read the file: %w", err), f.key...)
		}
		_ = r.Close() // only opened to know it can be read
	}
	return nil
}

func (c *ConsulConfig) validate() error {
	if c.Address == "" {
		return schema.At(errors.New("address is empty"), "address")
	}
	if strings.Contains(c.Address, "/") {
		return schema.At(fmt.Errorf("%q is not host:port (the scheme goes in scheme)", c.Address), "address")
	}
	if u, err := url.Parse("http://" + c.Address); err != nil || u.Host != c.Address || u.Port() == "" {
		return schema.At(fmt.Errorf("%q is not host:port", c.Address), "address")
	}
	if c.Scheme != "http" && c.Scheme != "https" {
		return schema.At(fmt.Errorf("scheme %q is neither http nor https", c.Scheme), "scheme")
	}
	if c.Token != "" && c.TokenFile != "" {
		return schema.At(errors.New("at most one of token and token_file must be set"), "token")
	}
	if c.TokenFile != "" {
		if err := checkReceiverSecretFile(c.TokenFile); err != nil {
			return schema.At(err, "token_file")
		}
	}
	p := strings.Trim(c.KeyPrefix, "/")
	if p == "" {
		return schema.At(errors.New("key_prefix is empty: the cluster's state needs a folder of its own"), "key_prefix")
	}
	if strings.Contains(p, "//") {
		return schema.At(fmt.Errorf("key_prefix %q has an empty path segment", c.KeyPrefix), "key_prefix")
	}
	c.KeyPrefix = p
	if !memberName.MatchString(c.Service) {
		return schema.At(fmt.Errorf("service %q is not a Consul service name: use letters, digits, '.', '_' or '-'", c.Service), "service")
	}
	return nil
}
