package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// WebhookConfig is one entry of webhook_configs: an Alertmanager v4 webhook.
type WebhookConfig struct {
	// URL is a secret: webhook URLs often carry a token.
	URL     pconfig.Secret `yaml:"url,omitempty"`
	URLFile string         `yaml:"url_file,omitempty"`
	// MaxAlerts caps the alerts in one payload (0: no limit); the rest are
	// counted in truncatedAlerts.
	MaxAlerts    int                       `yaml:"max_alerts,omitempty"`
	Timeout      Duration                  `yaml:"timeout,omitempty"`
	SendResolved *bool                     `yaml:"send_resolved,omitempty"`
	HTTPConfig   *pconfig.HTTPClientConfig `yaml:"http_config,omitempty"`
}

func (c *WebhookConfig) validate() error {
	switch {
	case c.URL == "" && c.URLFile == "":
		return errors.New("one of url or url_file must be configured")
	case c.URL != "" && c.URLFile != "":
		return errors.New("at most one of url & url_file must be configured")
	}
	if c.URL != "" {
		if err := validateSecretURL(string(c.URL)); err != nil {
			return schema.At(err, "url")
		}
	}
	if c.MaxAlerts < 0 {
		return schema.At(errors.New("must not be negative"), "max_alerts")
	}
	if c.Timeout < 0 {
		return schema.At(errors.New("must not be negative"), "timeout")
	}
	if c.HTTPConfig != nil {
		if err := c.HTTPConfig.Validate(); err != nil {
			return schema.At(err, "http_config")
		}
	}
	return nil
}

// validateSecretURL checks an URL without printing it.
func validateSecretURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("invalid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("URL must use http or https")
	}
	if u.Host == "" {
		return errors.New("URL has no host")
	}
	return nil
}

// LogConfig is one entry of log_configs: notifications are written to the
// router's own log instead of being sent (handy before a real receiver is
// configured, and in tests).
type LogConfig struct {
	// Level is the log level of the lines: debug, info (default), warn, error.
	Level        string `yaml:"level,omitempty"`
	SendResolved *bool  `yaml:"send_resolved,omitempty"`
}

// SlogLevel returns the configured level.
func (c LogConfig) SlogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		return slog.LevelInfo
	}
	return l
}

func (c *LogConfig) validate() error {
	switch strings.ToLower(c.Level) {
	case "", "debug", "info", "warn", "error":
		return nil
	}
	return schema.At(fmt.Errorf("invalid level %q (valid: debug, info, warn, error)", c.Level), "level")
}

// SendResolvedOr returns *b, or def when b is unset.
func SendResolvedOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}
