package config

import (
	"errors"
	"fmt"
	"strings"

	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// WebsocketProbe is the `websocket:` block of a module (blackbox-compatible).
type WebsocketProbe struct {
	IPProtocol         string             `yaml:"preferred_ip_protocol,omitempty"`
	IPProtocolFallback bool               `yaml:"ip_protocol_fallback,omitempty"`
	QueryResponse      []QueryResponse    `yaml:"query_response,omitempty"`
	WSHTTPClientConfig WSHTTPClientConfig `yaml:"http_config,omitempty"`

	present bool // the module has this block
}

// WSHTTPClientConfig is the handshake configuration of a websocket probe.
type WSHTTPClientConfig struct {
	Headers     Headers           `yaml:"headers,omitempty"`
	BasicAuth   *WSBasicAuth      `yaml:"basic_auth,omitempty"`
	BearerToken pconfig.Secret    `yaml:"bearer_token,omitempty"`
	TLSConfig   pconfig.TLSConfig `yaml:"tls_config,omitempty"`
}

// WSBasicAuth holds websocket handshake credentials.
type WSBasicAuth struct {
	Username string         `yaml:"username,omitempty"`
	Password pconfig.Secret `yaml:"password,omitempty"`
}

func defaultWebsocketProbe() WebsocketProbe { return WebsocketProbe{IPProtocolFallback: true} }

// UnmarshalYAML applies the defaults of a websocket block.
func (p *WebsocketProbe) UnmarshalYAML(unmarshal func(any) error) error {
	*p = defaultWebsocketProbe()
	p.present = true
	type plain WebsocketProbe
	return unmarshal((*plain)(p))
}

func (p *WebsocketProbe) validate() error {
	if err := validateQueryResponses(p.QueryResponse); err != nil {
		return err
	}
	c := &p.WSHTTPClientConfig
	if c.BasicAuth != nil && (c.BasicAuth.Username == "" || c.BasicAuth.Password == "") {
		return schema.At(errors.New("both username and password must be set for websocket basic_auth"), "http_config", "basic_auth")
	}
	if c.BearerToken != "" && strings.TrimSpace(string(c.BearerToken)) == "" {
		return schema.At(errors.New("bearer_token cannot be empty or whitespace only"), "http_config", "bearer_token")
	}
	for name, value := range c.Headers {
		if strings.ContainsAny(name, "\r\n") {
			return schema.At(fmt.Errorf("websocket header name contains illegal characters: %q", name), "http_config", "headers")
		}
		for _, r := range name {
			if r < 0x20 || r == 0x7f {
				return schema.At(fmt.Errorf("websocket header name contains control character: %q", name), "http_config", "headers")
			}
		}
		if strings.ContainsAny(value, "\r\n") {
			return schema.At(fmt.Errorf("websocket header value contains illegal characters (newline) in header %q", name), "http_config", "headers")
		}
	}
	return nil
}
