package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	pconfig "github.com/prometheus/common/config"
	yaml "go.yaml.in/yaml/v3"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// The receiver integrations' configuration blocks. Each integration package
// under alertrouter/notify uses its own block; Validate checks what can be
// checked without talking to the provider, and reports errors with the path
// of the offending key so that the loader can name the line.
//
// Secrets come inline (bot_token, auth_password, …) or from a file
// (bot_token_file, …). Validate checks that a secret file exists; the
// integrations read it again at every send, so a rotated token needs no
// reload.

// TelegramConfig is one entry of telegram_configs.
type TelegramConfig struct {
	APIURL              string                    `yaml:"api_url,omitempty"` // default https://api.telegram.org
	BotToken            pconfig.Secret            `yaml:"bot_token,omitempty"`
	BotTokenFile        string                    `yaml:"bot_token_file,omitempty"`
	ChatID              ChatID                    `yaml:"chat_id,omitempty"` // integer or "@channel"
	MessageThreadID     int64                     `yaml:"message_thread_id,omitempty"`
	DisableNotification bool                      `yaml:"disable_notification,omitempty"`
	ParseMode           string                    `yaml:"parse_mode,omitempty"` // HTML (default) or plain
	Message             string                    `yaml:"message,omitempty"`    // Go template overriding the default
	SendResolved        *bool                     `yaml:"send_resolved,omitempty"`
	HTTPConfig          *pconfig.HTTPClientConfig `yaml:"http_config,omitempty"`
	// Actions puts Ack / silence buttons on DOWN messages and reminders
	// and answers commands (/status, /silences) in the chat: the router
	// then long-polls the bot's getUpdates.
	Actions bool `yaml:"actions,omitempty"`
	// AllowedUserIDs are the Telegram users who may press the buttons and
	// send commands; empty: anyone in chat_id.
	AllowedUserIDs []int64 `yaml:"allowed_user_ids,omitempty"`
}

// Telegram parse modes accepted in parse_mode.
const (
	TelegramParseModeHTML  = "HTML"
	TelegramParseModePlain = "plain"
)

// botTokenPattern is the shape of a token given by @BotFather:
// "<bot id>:<secret>".
var botTokenPattern = regexp.MustCompile(`^[0-9]+:[A-Za-z0-9_-]+$`)

// ValidBotToken reports whether s has the shape of a Telegram bot token. The
// integration uses it for tokens read from bot_token_file.
func ValidBotToken(s string) bool { return botTokenPattern.MatchString(s) }

// Validate checks the block. Error messages never contain the token.
func (c TelegramConfig) Validate() error {
	switch {
	case c.BotToken != "" && c.BotTokenFile != "":
		return schema.At(errors.New("at most one of bot_token and bot_token_file must be set"), "bot_token")
	case c.BotToken == "" && c.BotTokenFile == "":
		return errors.New("one of bot_token and bot_token_file must be set")
	case c.BotToken != "" && !ValidBotToken(string(c.BotToken)):
		return schema.At(errors.New("not a bot token: expected <bot id>:<secret> as given by @BotFather"), "bot_token")
	case c.BotTokenFile != "":
		if err := checkReceiverSecretFile(c.BotTokenFile); err != nil {
			return schema.At(err, "bot_token_file")
		}
	}
	if c.ChatID == "" {
		return errors.New("chat_id must be set (a numeric chat id or \"@channelusername\")")
	}
	if err := c.ChatID.Validate(); err != nil {
		return schema.At(err, "chat_id")
	}
	if c.MessageThreadID < 0 {
		return schema.At(errors.New("message_thread_id must not be negative"), "message_thread_id")
	}
	switch c.ParseMode {
	case "", TelegramParseModeHTML, TelegramParseModePlain:
	default:
		return schema.At(fmt.Errorf("parse_mode %q is not supported: use %q (default) or %q", c.ParseMode, TelegramParseModeHTML, TelegramParseModePlain), "parse_mode")
	}
	if err := checkReceiverURL(c.APIURL); err != nil {
		return schema.At(err, "api_url")
	}
	if c.HTTPConfig != nil {
		if err := c.HTTPConfig.Validate(); err != nil {
			return schema.At(err, "http_config")
		}
	}
	if len(c.AllowedUserIDs) > 0 && !c.Actions {
		return schema.At(errors.New("allowed_user_ids is only used with actions: true (it says who may press the buttons)"), "allowed_user_ids")
	}
	for _, id := range c.AllowedUserIDs {
		if id <= 0 {
			return schema.At(fmt.Errorf("allowed_user_ids: %d is not a Telegram user id (users have positive ids; negative ids are groups and channels)", id), "allowed_user_ids")
		}
	}
	return nil
}

// ChatID is a Telegram chat: a numeric id (negative for groups and
// channels) or an @channelusername. In YAML it may be written as a number or
// a string.
type ChatID string

// chatUsernamePattern is Telegram's public username rule: 5 to 32 letters,
// digits and underscores, starting with a letter.
var chatUsernamePattern = regexp.MustCompile(`^@[A-Za-z][A-Za-z0-9_]{4,31}$`)

// UnmarshalYAML accepts an integer or a string.
func (c *ChatID) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: chat_id must be a number or a string", node.Line)
	}
	*c = ChatID(strings.TrimSpace(node.Value))
	return nil
}

// MarshalYAML writes numeric ids as numbers.
func (c ChatID) MarshalYAML() (any, error) {
	if c == "" {
		return nil, nil
	}
	if id, ok := c.Int(); ok {
		return id, nil
	}
	return string(c), nil
}

// Validate checks that c is a number or an @username.
func (c ChatID) Validate() error {
	if _, ok := c.Int(); ok {
		return nil
	}
	if chatUsernamePattern.MatchString(string(c)) {
		return nil
	}
	return fmt.Errorf("chat_id %q is neither a numeric chat id nor an \"@channelusername\" (5-32 letters, digits or _)", string(c))
}

// Int returns the numeric id, if c is one.
func (c ChatID) Int() (int64, bool) {
	id, err := strconv.ParseInt(string(c), 10, 64)
	return id, err == nil
}

// IsGroup reports whether c names a group, supergroup or channel (negative
// ids and @usernames), which Telegram limits to 20 messages a minute.
func (c ChatID) IsGroup() bool {
	if id, ok := c.Int(); ok {
		return id < 0
	}
	return strings.HasPrefix(string(c), "@")
}

// String returns the id as written.
func (c ChatID) String() string { return string(c) }

// EmailConfig is one entry of email_configs.
type EmailConfig struct {
	To               string            `yaml:"to,omitempty"` // comma-separated list of addresses
	From             string            `yaml:"from,omitempty"`
	Smarthost        string            `yaml:"smarthost,omitempty"` // host:port
	Hello            string            `yaml:"hello,omitempty"`
	AuthUsername     string            `yaml:"auth_username,omitempty"`
	AuthPassword     pconfig.Secret    `yaml:"auth_password,omitempty"`
	AuthPasswordFile string            `yaml:"auth_password_file,omitempty"`
	AuthSecret       pconfig.Secret    `yaml:"auth_secret,omitempty"` // CRAM-MD5
	AuthSecretFile   string            `yaml:"auth_secret_file,omitempty"`
	AuthIdentity     string            `yaml:"auth_identity,omitempty"`
	RequireTLS       *bool             `yaml:"require_tls,omitempty"` // STARTTLS required (default true); port 465 uses implicit TLS
	TLSConfig        pconfig.TLSConfig `yaml:"tls_config,omitempty"`
	Headers          Headers           `yaml:"headers,omitempty"` // values are secrets unless public
	Subject          string            `yaml:"subject,omitempty"` // Go template
	Text             string            `yaml:"text,omitempty"`    // Go template
	HTML             string            `yaml:"html,omitempty"`    // Go html/template
	SendResolved     *bool             `yaml:"send_resolved,omitempty"`
}

// emailReservedHeaders are set by the integration itself; a headers entry
// for them would produce a duplicate or contradictory header.
var emailReservedHeaders = map[string]string{
	"From":                      "use the from key",
	"To":                        "use the to key",
	"Subject":                   "use the subject key",
	"Date":                      "it is set at send time",
	"Message-Id":                "it is derived from the notification",
	"Mime-Version":              "it is set by the MIME encoder",
	"Content-Type":              "it is set by the MIME encoder",
	"Content-Transfer-Encoding": "it is set by the MIME encoder",
	"Auto-Submitted":            "it is always auto-generated",
}

// Validate checks the block.
func (c EmailConfig) Validate() error {
	if strings.TrimSpace(c.To) == "" {
		return errors.New("to must be set")
	}
	if _, err := mail.ParseAddressList(c.To); err != nil {
		return schema.At(fmt.Errorf("invalid address list %q: %w", c.To, err), "to")
	}
	if c.From == "" {
		return errors.New("from must be set")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return schema.At(fmt.Errorf("invalid address %q: %w", c.From, err), "from")
	}
	if c.Smarthost == "" {
		return errors.New("smarthost must be set (host:port)")
	}
	if _, _, err := SplitSmarthost(c.Smarthost); err != nil {
		return schema.At(err, "smarthost")
	}
	if c.AuthPassword != "" && c.AuthPasswordFile != "" {
		return schema.At(errors.New("at most one of auth_password and auth_password_file must be set"), "auth_password")
	}
	if c.AuthSecret != "" && c.AuthSecretFile != "" {
		return schema.At(errors.New("at most one of auth_secret and auth_secret_file must be set"), "auth_secret")
	}
	if c.AuthUsername == "" {
		for _, k := range []struct {
			key string
			set bool
		}{
			{"auth_password", c.AuthPassword != ""}, {"auth_password_file", c.AuthPasswordFile != ""},
			{"auth_secret", c.AuthSecret != ""}, {"auth_secret_file", c.AuthSecretFile != ""},
			{"auth_identity", c.AuthIdentity != ""},
		} {
			if k.set {
				return schema.At(fmt.Errorf("%s is set but auth_username is not", k.key), k.key)
			}
		}
	} else if c.AuthPassword == "" && c.AuthPasswordFile == "" && c.AuthSecret == "" && c.AuthSecretFile == "" {
		return schema.At(errors.New("auth_username is set but none of auth_password, auth_password_file, auth_secret or auth_secret_file"), "auth_username")
	}
	if c.AuthPasswordFile != "" {
		if err := checkReceiverSecretFile(c.AuthPasswordFile); err != nil {
			return schema.At(err, "auth_password_file")
		}
	}
	if c.AuthSecretFile != "" {
		if err := checkReceiverSecretFile(c.AuthSecretFile); err != nil {
			return schema.At(err, "auth_secret_file")
		}
	}
	if strings.ContainsAny(c.Hello, " \r\n") {
		return schema.At(fmt.Errorf("hello %q must be a host name", c.Hello), "hello")
	}
	if err := c.TLSConfig.Validate(); err != nil {
		return schema.At(err, "tls_config")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		if err := checkReceiverHeader(name, c.Headers[name]); err != nil {
			return schema.At(err, "headers", name)
		}
		if why, ok := emailReservedHeaders[textproto.CanonicalMIMEHeaderKey(name)]; ok {
			return schema.At(fmt.Errorf("header %q cannot be set here: %s", name, why), "headers", name)
		}
	}
	return nil
}

// SplitSmarthost splits "host:port" and checks the port.
func SplitSmarthost(s string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("invalid smarthost %q (want host:port): %w", s, err)
	}
	if host == "" {
		return "", 0, fmt.Errorf("invalid smarthost %q: missing host", s)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("invalid smarthost %q: port %q is not a number between 1 and 65535", s, p)
	}
	return host, port, nil
}

// StartTLSRequired returns require_tls with its default (true).
func (c EmailConfig) StartTLSRequired() bool { return c.RequireTLS == nil || *c.RequireTLS }

// SMSConfig is one entry of sms_configs. Which keys apply depends on the
// provider; a key of another provider is an error rather than silently
// ignored.
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
	Endpoint              string         `yaml:"endpoint,omitempty"` // ovh-eu (default), ovh-ca, ovh-us or a URL
	ApplicationKey        string         `yaml:"application_key,omitempty"`
	ApplicationSecret     pconfig.Secret `yaml:"application_secret,omitempty"`
	ApplicationSecretFile string         `yaml:"application_secret_file,omitempty"`
	ConsumerKey           pconfig.Secret `yaml:"consumer_key,omitempty"`
	ConsumerKeyFile       string         `yaml:"consumer_key_file,omitempty"`
	ServiceName           string         `yaml:"service_name,omitempty"`
	NoStopClause          *bool          `yaml:"no_stop_clause,omitempty"` // default true (alerts are not marketing)
	Priority              string         `yaml:"priority,omitempty"`       // high, medium, low, veryLow
	// generic http
	Method string `yaml:"method,omitempty"` // default POST
	// URL is a Go template, and a secret as a webhook's: gateways take
	// their key in the path or the query.
	URL     pconfig.Secret `yaml:"url,omitempty"`
	Headers Headers        `yaml:"headers,omitempty"` // literal values; secrets unless public
	Body    string         `yaml:"body,omitempty"`    // Go template
	// common
	APIURL       string                    `yaml:"api_url,omitempty"` // provider endpoint override (tests, proxies)
	Message      string                    `yaml:"message,omitempty"` // Go template
	MaxLength    int                       `yaml:"max_length,omitempty"`
	Unicode      bool                      `yaml:"unicode,omitempty"` // keep non-ASCII characters
	MaxPerHour   int                       `yaml:"max_per_hour,omitempty"`
	SendResolved *bool                     `yaml:"send_resolved,omitempty"`
	HTTPConfig   *pconfig.HTTPClientConfig `yaml:"http_config,omitempty"`
}

// SMS providers.
const (
	SMSProviderTwilio     = "twilio"
	SMSProviderFreeMobile = "freemobile"
	SMSProviderOVH        = "ovh"
	SMSProviderHTTP       = "http"
)

// SMS defaults and limits.
const (
	// DefaultSMSMaxLength is one GSM-7 segment.
	DefaultSMSMaxLength = 160
	// DefaultSMSUnicodeMaxLength is one UCS-2 segment (unicode: true).
	DefaultSMSUnicodeMaxLength = 70
	// MaxSMSMaxLength is the longest body Twilio accepts.
	MaxSMSMaxLength = 1600
	// DefaultSMSMaxPerHour is the budget per destination when max_per_hour
	// is not set: enough for a bad hour, not enough to ruin anyone.
	DefaultSMSMaxPerHour = 20
)

// OVHEndpoint returns the base URL of a named OVH API endpoint.
func OVHEndpoint(name string) (string, bool) {
	switch name {
	case "ovh-eu":
		return "https://eu.api.ovh.com/1.0", true
	case "ovh-ca":
		return "https://ca.api.ovh.com/1.0", true
	case "ovh-us":
		return "https://api.us.ovhcloud.com/1.0", true
	}
	return "", false
}

var (
	smsE164Pattern        = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	twilioSIDPattern      = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	twilioMGPattern       = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	smsAlphaSenderPattern = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	ovhPriorities         = map[string]bool{"high": true, "medium": true, "low": true, "veryLow": true}
	smsHTTPMethods        = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true}
)

// Validate checks the block. Error messages never contain credentials.
func (c SMSConfig) Validate() error {
	keys := c.setKeys()
	var own []string
	switch c.Provider {
	case SMSProviderTwilio:
		own = []string{"to", "from", "account_sid", "auth_token", "auth_token_file"}
		if err := c.validateTwilio(); err != nil {
			return err
		}
	case SMSProviderFreeMobile:
		own = []string{"user", "pass", "pass_file"}
		if err := c.validateFreeMobile(); err != nil {
			return err
		}
	case SMSProviderOVH:
		own = []string{"to", "from", "endpoint", "application_key", "application_secret", "application_secret_file",
			"consumer_key", "consumer_key_file", "service_name", "no_stop_clause", "priority"}
		if err := c.validateOVH(); err != nil {
			return err
		}
	case SMSProviderHTTP:
		own = []string{"to", "from", "method", "url", "headers", "body"}
		if err := c.validateHTTP(); err != nil {
			return err
		}
	case "":
		return errors.New("provider must be set (twilio, freemobile, ovh or http)")
	default:
		return schema.At(fmt.Errorf("unknown provider %q (want twilio, freemobile, ovh or http)", c.Provider), "provider")
	}
	for _, k := range smsProviderKeys {
		if keys[k] && !slices.Contains(own, k) {
			return schema.At(fmt.Errorf("%s is not used by provider %s", k, c.Provider), k)
		}
	}
	if c.MaxLength < 0 || c.MaxLength > MaxSMSMaxLength {
		return schema.At(fmt.Errorf("max_length must be between 20 and %d (default %d)", MaxSMSMaxLength, DefaultSMSMaxLength), "max_length")
	}
	if c.MaxLength != 0 && c.MaxLength < 20 {
		return schema.At(errors.New("max_length below 20 leaves no room for a message"), "max_length")
	}
	if c.MaxPerHour < 0 {
		return schema.At(errors.New("max_per_hour must not be negative"), "max_per_hour")
	}
	if err := checkReceiverURL(c.APIURL); err != nil {
		return schema.At(err, "api_url")
	}
	if c.HTTPConfig != nil {
		if err := c.HTTPConfig.Validate(); err != nil {
			return schema.At(err, "http_config")
		}
	}
	return nil
}

// smsProviderKeys are the keys that belong to one provider or another.
var smsProviderKeys = []string{"to", "from", "account_sid", "auth_token", "auth_token_file", "user", "pass", "pass_file",
	"endpoint", "application_key", "application_secret", "application_secret_file", "consumer_key", "consumer_key_file",
	"service_name", "no_stop_clause", "priority", "method", "url", "headers", "body"}

func (c SMSConfig) setKeys() map[string]bool {
	return map[string]bool{
		"to": c.To != "", "from": c.From != "",
		"account_sid": c.AccountSID != "", "auth_token": c.AuthToken != "", "auth_token_file": c.AuthTokenFile != "",
		"user": c.User != "", "pass": c.Pass != "", "pass_file": c.PassFile != "",
		"endpoint": c.Endpoint != "", "application_key": c.ApplicationKey != "",
		"application_secret": c.ApplicationSecret != "", "application_secret_file": c.ApplicationSecretFile != "",
		"consumer_key": c.ConsumerKey != "", "consumer_key_file": c.ConsumerKeyFile != "",
		"service_name": c.ServiceName != "", "no_stop_clause": c.NoStopClause != nil, "priority": c.Priority != "",
		"method": c.Method != "", "url": c.URL != "", "headers": len(c.Headers) > 0, "body": c.Body != "",
	}
}

func (c SMSConfig) validateTwilio() error {
	if err := checkPhoneNumber(c.To); err != nil {
		return schema.At(err, "to")
	}
	switch {
	case c.From == "":
		return errors.New("from must be set (a Twilio phone number, a messaging service SID MG… or an alphanumeric sender id)")
	case strings.HasPrefix(c.From, "+"):
		if err := checkPhoneNumber(c.From); err != nil {
			return schema.At(err, "from")
		}
	case strings.HasPrefix(c.From, "MG") && twilioMGPattern.MatchString(c.From):
	case !smsAlphaSenderPattern.MatchString(c.From):
		return schema.At(fmt.Errorf("from %q is neither a phone number (+E.164), a messaging service SID (MG…) nor an alphanumeric sender id (at most 11 letters, digits, spaces)", c.From), "from")
	}
	if c.AccountSID == "" {
		return errors.New("account_sid must be set")
	}
	if !twilioSIDPattern.MatchString(c.AccountSID) {
		return schema.At(errors.New("account_sid must be AC followed by 32 hexadecimal digits"), "account_sid")
	}
	return oneSecret("auth_token", c.AuthToken, c.AuthTokenFile)
}

func (c SMSConfig) validateFreeMobile() error {
	if c.User == "" {
		return errors.New("user must be set (your Free Mobile login)")
	}
	return oneSecret("pass", c.Pass, c.PassFile)
}

func (c SMSConfig) validateOVH() error {
	if err := checkPhoneNumber(c.To); err != nil {
		return schema.At(err, "to")
	}
	if c.Endpoint != "" {
		if _, ok := OVHEndpoint(c.Endpoint); !ok {
			if err := checkReceiverURL(c.Endpoint); err != nil {
				return schema.At(fmt.Errorf("endpoint must be ovh-eu, ovh-ca, ovh-us or a URL: %w", err), "endpoint")
			}
		}
	}
	if c.ApplicationKey == "" {
		return errors.New("application_key must be set")
	}
	if c.ServiceName == "" {
		return errors.New("service_name must be set (your SMS account, e.g. sms-ab12345-1)")
	}
	if strings.ContainsAny(c.ServiceName, "/?#") {
		return schema.At(fmt.Errorf("service_name %q is not an OVH SMS account name (sms-xx00000-1)", c.ServiceName), "service_name")
	}
	if err := oneSecret("application_secret", c.ApplicationSecret, c.ApplicationSecretFile); err != nil {
		return err
	}
	if err := oneSecret("consumer_key", c.ConsumerKey, c.ConsumerKeyFile); err != nil {
		return err
	}
	if c.Priority != "" && !ovhPriorities[c.Priority] {
		return schema.At(fmt.Errorf("priority %q is not one of high, medium, low, veryLow", c.Priority), "priority")
	}
	return nil
}

func (c SMSConfig) validateHTTP() error {
	if c.URL == "" {
		return errors.New("url must be set")
	}
	if !strings.Contains(string(c.URL), "{{") {
		if err := validateSecretURL(string(c.URL)); err != nil {
			return schema.At(err, "url")
		}
	}
	if c.Method != "" && !smsHTTPMethods[c.Method] {
		return schema.At(fmt.Errorf("method %q is not one of GET, POST, PUT, PATCH", c.Method), "method")
	}
	if c.Method == "GET" && c.Body != "" {
		return schema.At(errors.New("a GET request has no body: put the message in the url"), "body")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		if err := checkReceiverHeader(name, c.Headers[name]); err != nil {
			return schema.At(err, "headers", name)
		}
	}
	return nil
}

// SMSMaxLength returns max_length with its default: one segment, 160
// characters of GSM-7, or 70 of UCS-2 with unicode: true.
func (c SMSConfig) SMSMaxLength() int {
	switch {
	case c.MaxLength != 0:
		return c.MaxLength
	case c.Unicode:
		return DefaultSMSUnicodeMaxLength
	}
	return DefaultSMSMaxLength
}

// SMSMaxPerHour returns max_per_hour with its default.
func (c SMSConfig) SMSMaxPerHour() int {
	if c.MaxPerHour == 0 {
		return DefaultSMSMaxPerHour
	}
	return c.MaxPerHour
}

func checkPhoneNumber(s string) error {
	if s == "" {
		return errors.New("phone number must be set (international format, e.g. +33612345678)")
	}
	if !smsE164Pattern.MatchString(s) {
		return fmt.Errorf("phone number %q is not in international format (+ country code and number, digits only, e.g. +33612345678)", s)
	}
	return nil
}

// oneSecret checks that exactly one of an inline secret and its file is set.
func oneSecret(key string, inline pconfig.Secret, file string) error {
	switch {
	case inline != "" && file != "":
		return schema.At(fmt.Errorf("at most one of %s and %s_file must be set", key, key), key)
	case inline == "" && file == "":
		return fmt.Errorf("one of %s and %s_file must be set", key, key)
	case file != "":
		return schema.At(checkReceiverSecretFile(file), key+"_file")
	}
	return nil
}

// checkReceiverSecretFile checks that a secret file can be read, without reading it
// into any error message.
func checkReceiverSecretFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read secret file: %w", err)
	}
	return f.Close()
}

func checkReceiverURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid URL %q: want http:// or https:// and a host", s)
	}
	return nil
}

// validateHeader rejects header names and values that would break or inject
// into a request or message.
func checkReceiverHeader(name, value string) error {
	if name == "" || strings.IndexFunc(name, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || r == ':'
	}) >= 0 {
		return fmt.Errorf("invalid header name %q", name)
	}
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("header %q: value contains a newline", name)
	}
	return nil
}
