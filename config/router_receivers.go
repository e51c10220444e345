package config

import (
	pconfig "github.com/prometheus/common/config"
)

// The receiver integrations' configuration blocks. Each integration package
// under alertrouter/notify validates and uses its own block.

// TelegramConfig is one entry of telegram_configs.
type TelegramConfig struct {
	APIURL              string                    `yaml:"api_url,omitempty"` // default https://api.telegram.org
	BotToken            pconfig.Secret            `yaml:"bot_token,omitempty"`
	BotTokenFile        string                    `yaml:"bot_token_file,omitempty"`
	ChatID              ChatID                    `yaml:"chat_id,omitempty"` // integer or "@channel"
	MessageThreadID     int64                     `yaml:"message_thread_id,omitempty"`
	DisableNotification bool                      `yaml:"disable_notification,omitempty"`
	ParseMode           string                    `yaml:"parse_mode,omitempty"` // HTML (default) or "" for plain text
	Message             string                    `yaml:"message,omitempty"`    // Go template overriding the default
	SendResolved        *bool                     `yaml:"send_resolved,omitempty"`
	HTTPConfig          *pconfig.HTTPClientConfig `yaml:"http_config,omitempty"`
}

// ChatID is a Telegram chat: a numeric id or an @channelusername.
type ChatID string

// EmailConfig is one entry of email_configs.
type EmailConfig struct {
	To               string            `yaml:"to,omitempty"`
	From             string            `yaml:"from,omitempty"`
	Smarthost        string            `yaml:"smarthost,omitempty"` // host:port
	Hello            string            `yaml:"hello,omitempty"`
	AuthUsername     string            `yaml:"auth_username,omitempty"`
	AuthPassword     pconfig.Secret    `yaml:"auth_password,omitempty"`
	AuthPasswordFile string            `yaml:"auth_password_file,omitempty"`
	AuthSecret       pconfig.Secret    `yaml:"auth_secret,omitempty"` // CRAM-MD5
	AuthIdentity     string            `yaml:"auth_identity,omitempty"`
	RequireTLS       *bool             `yaml:"require_tls,omitempty"` // STARTTLS required (default true); port 465 uses implicit TLS
	TLSConfig        pconfig.TLSConfig `yaml:"tls_config,omitempty"`
	Headers          map[string]string `yaml:"headers,omitempty"`
	Subject          string            `yaml:"subject,omitempty"` // Go template
	Text             string            `yaml:"text,omitempty"`    // Go template
	HTML             string            `yaml:"html,omitempty"`    // Go template
	SendResolved     *bool             `yaml:"send_resolved,omitempty"`
}

// SMSConfig is one entry of sms_configs.
type SMSConfig struct {
	Provider string `yaml:"provider,omitempty"` // twilio, freemobile, ovh, http
	To       string `yaml:"to,omitempty"`
	From     string `yaml:"from,omitempty"`
	// twilio
	AccountSID    string         `yaml:"account_sid,omitempty"`
	AuthToken     pconfig.Secret `yaml:"auth_token,omitempty"`
	AuthTokenFile string         `yaml:"auth_token_file,omitempty"`
	// freemobile: user and pass (API key)
	User     string         `yaml:"user,omitempty"`
	Pass     pconfig.Secret `yaml:"pass,omitempty"`
	PassFile string         `yaml:"pass_file,omitempty"`
	// ovh
	Endpoint          string         `yaml:"endpoint,omitempty"`
	ApplicationKey    string         `yaml:"application_key,omitempty"`
	ApplicationSecret pconfig.Secret `yaml:"application_secret,omitempty"`
	ConsumerKey       pconfig.Secret `yaml:"consumer_key,omitempty"`
	ServiceName       string         `yaml:"service_name,omitempty"`
	// generic http
	Method  string            `yaml:"method,omitempty"`
	URL     string            `yaml:"url,omitempty"`
	Headers map[string]string `yaml:"headers,omitempty"`
	Body    string            `yaml:"body,omitempty"` // Go template
	// common
	APIURL       string `yaml:"api_url,omitempty"` // provider endpoint override (tests, proxies)
	Message      string `yaml:"message,omitempty"` // Go template
	MaxPerHour   int    `yaml:"max_per_hour,omitempty"`
	SendResolved *bool  `yaml:"send_resolved,omitempty"`
}
