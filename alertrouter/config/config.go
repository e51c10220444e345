// Package config is vigie_router's configuration schema (vigie-router.yml):
// it applies defaults, parses strictly (unknown keys are errors that name
// the line), validates at load time and never prints secrets. What it
// shares with the exporter's schema (durations, header masking, matchers,
// located errors) comes from internal/schema, re-exported here under the
// names the router's packages use.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

//go:embed default.yml
var routerDefaultYAML []byte

// RouterDefaultYAML returns the router configuration used when no file is
// given: it probes the exporter on 127.0.0.1:9115 and writes would-be
// notifications to the router's log. Each call returns a copy.
func RouterDefaultYAML() []byte { return bytes.Clone(routerDefaultYAML) }

// Router configuration defaults.
const (
	DefaultExporterURL        = "http://127.0.0.1:9115"
	DefaultCheckInterval      = 60 * time.Second
	DefaultRetryInterval      = 15 * time.Second
	DefaultCheckTimeout       = 10 * time.Second
	DefaultSDRefreshInterval  = 30 * time.Second
	DefaultSDMaxRemovedRatio  = 0.5
	DefaultSDConfirmations    = 3
	DefaultExporterFailures   = 3
	DefaultExporterAlertAfter = time.Minute
	DefaultFailures           = 3
	DefaultSuccesses          = 2
	DefaultRepeatInterval     = 4 * time.Hour
	DefaultDeliveryMaxAge     = 72 * time.Hour
	DefaultDeliveryMinBackoff = time.Second
	DefaultDeliveryMaxBackoff = 5 * time.Minute
	DefaultDeliveryTimeout    = 30 * time.Second
	DefaultResolveTimeout     = 5 * time.Minute
	DefaultGroupWait          = 30 * time.Second
	DefaultFlapChanges        = 4
	DefaultFlapWindow         = 30 * time.Minute
)

// RouterConfig is vigie_router's configuration (vigie-router.yml).
type RouterConfig struct {
	// ExternalURL is where users reach the router (links in notifications);
	// --web.external-url overrides it.
	ExternalURL string         `yaml:"external_url,omitempty"`
	Global      GlobalConfig   `yaml:"global,omitempty"`
	Exporter    ExporterConfig `yaml:"exporter,omitempty"`
	// Exporters are more locations to probe from, instead of or besides
	// Exporter (see Locations).
	Exporters []ExporterConfig `yaml:"exporters,omitempty"`
	Checks    ChecksConfig     `yaml:"checks,omitempty"`
	Delivery  DeliveryConfig   `yaml:"delivery,omitempty"`
	Rules     []Rule           `yaml:"rules,omitempty"`
	Receivers []Receiver       `yaml:"receivers,omitempty"`
	// TimeIntervals are named recurring intervals that rules use as
	// maintenance windows (mute_time_intervals) or working hours
	// (active_time_intervals).
	TimeIntervals []TimeIntervalSet `yaml:"time_intervals,omitempty"`
	// Cluster, when set, makes the router a member of a cluster of
	// routers coordinated through Consul (nil: a router alone).
	Cluster *ClusterConfig `yaml:"cluster,omitempty"`

	source []byte // the YAML it was parsed from, to locate later errors
	// locations are the exporters probed, resolved by validate.
	locations []ExporterConfig
}

// GlobalConfig holds settings shared by every alert source.
type GlobalConfig struct {
	// ResolveTimeout is the endsAt given to a Prometheus alert posted
	// without one, as in Alertmanager: it is resolved if not refreshed by
	// then.
	ResolveTimeout Duration `yaml:"resolve_timeout,omitempty"`
}

// ExporterConfig says where the exporter's /sd and /probe live and how to
// talk to it.
type ExporterConfig struct {
	// Location names where the exporter probes from (a label value in
	// messages and metrics); required in exporters entries, DefaultLocation
	// for exporter when it is not set.
	Location string `yaml:"location,omitempty"`
	URL      string `yaml:"url,omitempty"`
	// SD, when false, does not fetch this exporter's target list: it only
	// probes the targets the other locations list.
	SD *bool `yaml:"sd,omitempty"`
	// SDURL is the target list (Prometheus HTTP SD JSON); default URL + "/sd".
	SDURL             string   `yaml:"sd_url,omitempty"`
	SDRefreshInterval Duration `yaml:"sd_refresh_interval,omitempty"`
	// SDRemovalGuard holds back a target list that would remove many
	// checks at once until it is confirmed.
	SDRemovalGuard RemovalGuard `yaml:"sd_removal_guard,omitempty"`
	// Timeout bounds one request to the exporter; default checks.timeout + 5s
	// (the exporter itself stops the probe at checks.timeout).
	Timeout Duration `yaml:"timeout,omitempty"`
	// Headers are added to every request to the exporter; their values
	// are secrets unless public (Headers).
	Headers    Headers                  `yaml:"headers,omitempty"`
	HTTPConfig pconfig.HTTPClientConfig `yaml:"http_config,omitempty"`
	// The "exporter unreachable" notification is raised when requests to
	// the exporter have failed for AlertAfter, with at least Failures
	// errors in a row.
	Failures   int      `yaml:"failures,omitempty"`
	AlertAfter Duration `yaml:"alert_after,omitempty"`
	// Receivers get the router's own alerts ("exporter unreachable",
	// StoreDamaged); default every receiver some rule uses.
	Receivers []string `yaml:"receivers,omitempty"`

	written    bool // the block is in the file (not only defaults)
	urlWritten bool
}

// SDEnabled reports whether the exporter's target list is fetched.
func (c *ExporterConfig) SDEnabled() bool { return c.SD == nil || *c.SD }

// RemovalGuard protects the checks from a target list that lost them by
// accident (a broken source on the exporter, a Consul restored empty): a
// list that would remove more than MaxRemovedRatio of the checks, or every
// check announced DOWN, removes them only once Confirmations lists in a row
// agree on what to remove. Until then the checks are kept and probed.
type RemovalGuard struct {
	MaxRemovedRatio float64 `yaml:"max_removed_ratio,omitempty"`
	// Confirmations counts the list that proposed the removal; 1 applies
	// every list at once (no guard).
	Confirmations int `yaml:"confirmations,omitempty"`
}

// ChecksConfig is how often checks are probed.
type ChecksConfig struct {
	Interval Duration `yaml:"interval,omitempty"`
	// RetryInterval and Timeout follow Prometheus's scrape_timeout
	// convention: left unset, they are their default capped at Interval
	// (so `interval: 5s` alone is valid); set explicitly, they must not be
	// longer than Interval.
	RetryInterval Duration `yaml:"retry_interval,omitempty"`
	// Timeout is passed to the exporter as the scrape timeout.
	Timeout Duration `yaml:"timeout,omitempty"`
	// MaxConcurrency bounds the probes in flight; 0 (the default) sizes
	// the bound to the checks: checks / interval × timeout, from 256 to
	// 4,096 (scheduler.AutoConcurrency).
	MaxConcurrency int `yaml:"max_concurrency,omitempty"`
	// Quorum is how many locations must fail for a probe round to fail;
	// 0 (the default) is a majority of the locations that answered. It is
	// counted over the locations whose exporter answered: with fewer of
	// them than Quorum, all of them must fail.
	Quorum int `yaml:"quorum,omitempty"`
}

// DeliveryConfig is the shared retry policy of every receiver integration.
type DeliveryConfig struct {
	// MaxAge is how long a notification is retried before it is dropped
	// (loudly: logged and counted).
	MaxAge     Duration `yaml:"max_age,omitempty"`
	MinBackoff Duration `yaml:"min_backoff,omitempty"`
	MaxBackoff Duration `yaml:"max_backoff,omitempty"`
	// Timeout bounds one delivery attempt.
	Timeout Duration `yaml:"timeout,omitempty"`
}

// Rule routes the checks whose labels match to receivers, with the retry
// counts that decide UP and DOWN.
type Rule struct {
	Matchers       Matchers  `yaml:"matchers,omitempty"`
	Failures       int       `yaml:"failures,omitempty"`
	Successes      int       `yaml:"successes,omitempty"`
	RepeatInterval Duration  `yaml:"repeat_interval"`
	GroupBy        []string  `yaml:"group_by,omitempty"`
	GroupWait      *Duration `yaml:"group_wait,omitempty"`
	SendResolved   bool      `yaml:"send_resolved"`
	Receivers      []string  `yaml:"receivers,omitempty"`
	Continue       bool      `yaml:"continue,omitempty"`
	// DependsOn selects parent checks: while one of them is DOWN (or
	// failing towards DOWN), the DOWN of a check this rule matches is
	// recorded but not sent.
	DependsOn Matchers `yaml:"depends_on,omitempty"`
	// MuteTimeIntervals name time_intervals entries during which this
	// rule's receivers are not notified (maintenance windows);
	// ActiveTimeIntervals, when set, the only ones during which they are.
	MuteTimeIntervals   []string `yaml:"mute_time_intervals,omitempty"`
	ActiveTimeIntervals []string `yaml:"active_time_intervals,omitempty"`
	// FlapDetection announces a check that changes state too often once,
	// instead of every change.
	FlapDetection *FlapDetection `yaml:"flap_detection,omitempty"`
}

// FlapDetection says when a check is flapping: Changes confirmed state
// changes (DOWN or UP) within Window. It settles once it has not changed
// for a whole Window.
type FlapDetection struct {
	Changes int      `yaml:"changes,omitempty"`
	Window  Duration `yaml:"window,omitempty"`
}

// UnmarshalYAML applies the defaults (4 changes in 30m).
func (f *FlapDetection) UnmarshalYAML(unmarshal func(any) error) error {
	*f = FlapDetection{Changes: DefaultFlapChanges, Window: Duration(DefaultFlapWindow)}
	type plain FlapDetection
	return unmarshal((*plain)(f))
}

// GroupWaitOrDefault is how long the first notification of a group waits
// for others: group_wait, or 30s (Alertmanager's default) when it is not
// set.
func (r *Rule) GroupWaitOrDefault() time.Duration {
	if r.GroupWait == nil {
		return DefaultGroupWait
	}
	return r.GroupWait.Std()
}

// Grouped reports whether the rule batches notifications: group_by is set
// and is not ['...'] (every label: each alert alone).
func (r *Rule) Grouped() bool {
	if len(r.GroupBy) == 0 {
		return false
	}
	for _, l := range r.GroupBy {
		if l == "..." {
			return false
		}
	}
	return true
}

// Receiver is a named set of integrations.
type Receiver struct {
	Name            string           `yaml:"name"`
	TelegramConfigs []TelegramConfig `yaml:"telegram_configs,omitempty"`
	EmailConfigs    []EmailConfig    `yaml:"email_configs,omitempty"`
	SMSConfigs      []SMSConfig      `yaml:"sms_configs,omitempty"`
	WebhookConfigs  []WebhookConfig  `yaml:"webhook_configs,omitempty"`
	LogConfigs      []LogConfig      `yaml:"log_configs,omitempty"`
}

// UnmarshalYAML applies the defaults of the exporter block.
func (c *ExporterConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = defaultExporterConfig()
	c.URL = ""
	type plain ExporterConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	c.written, c.urlWritten = true, c.URL != ""
	if c.URL == "" {
		c.URL = DefaultExporterURL
	}
	return nil
}

// UnmarshalYAML applies the defaults of the checks block.
func (c *ChecksConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = defaultChecksConfig()
	type plain ChecksConfig
	return unmarshal((*plain)(c))
}

// UnmarshalYAML applies the defaults of the delivery block.
func (c *DeliveryConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = defaultDeliveryConfig()
	type plain DeliveryConfig
	return unmarshal((*plain)(c))
}

// UnmarshalYAML applies the defaults of a rule, so that an explicit
// `repeat_interval: 0` (never remind) or `send_resolved: false` is kept.
func (r *Rule) UnmarshalYAML(unmarshal func(any) error) error {
	*r = Rule{
		Failures:       DefaultFailures,
		Successes:      DefaultSuccesses,
		RepeatInterval: Duration(DefaultRepeatInterval),
		SendResolved:   true,
	}
	type plain Rule
	return unmarshal((*plain)(r))
}

// UnmarshalYAML applies the defaults of the global block.
func (c *GlobalConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = defaultGlobalConfig()
	type plain GlobalConfig
	return unmarshal((*plain)(c))
}

func defaultGlobalConfig() GlobalConfig {
	return GlobalConfig{ResolveTimeout: Duration(DefaultResolveTimeout)}
}

func defaultExporterConfig() ExporterConfig {
	return ExporterConfig{
		URL:               DefaultExporterURL,
		SDRefreshInterval: Duration(DefaultSDRefreshInterval),
		SDRemovalGuard:    RemovalGuard{MaxRemovedRatio: DefaultSDMaxRemovedRatio, Confirmations: DefaultSDConfirmations},
		HTTPConfig:        pconfig.DefaultHTTPClientConfig,
		Failures:          DefaultExporterFailures,
		AlertAfter:        Duration(DefaultExporterAlertAfter),
	}
}

// unsetDuration marks a duration the file did not set, whose default
// depends on another key. The YAML parser never yields a negative duration,
// so it cannot be confused with a written value.
const unsetDuration Duration = -1

func defaultChecksConfig() ChecksConfig {
	return ChecksConfig{
		Interval:      Duration(DefaultCheckInterval),
		RetryInterval: unsetDuration,
		Timeout:       unsetDuration,
	}
}

func defaultDeliveryConfig() DeliveryConfig {
	return DeliveryConfig{
		MaxAge:     Duration(DefaultDeliveryMaxAge),
		MinBackoff: Duration(DefaultDeliveryMinBackoff),
		MaxBackoff: Duration(DefaultDeliveryMaxBackoff),
		Timeout:    Duration(DefaultDeliveryTimeout),
	}
}

// ParseRouter decodes and validates a router configuration. Errors name the
// line and the field.
func ParseRouter(data []byte) (*RouterConfig, error) {
	c := &RouterConfig{
		Global:   defaultGlobalConfig(),
		Exporter: defaultExporterConfig(),
		Checks:   defaultChecksConfig(),
		Delivery: defaultDeliveryConfig(),
	}
	if err := schema.DecodeStrict(data, c); err != nil {
		return nil, schema.Locate(data, err)
	}
	c.source = append([]byte(nil), data...)
	if err := c.Locate(c.validate()); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadRouter reads and parses a router configuration file; path "" is the
// embedded default. Relative file names inside it (url_file,
// bot_token_file, …) are used as given, relative to the working directory.
func LoadRouter(path string) (*RouterConfig, error) {
	data := routerDefaultYAML
	if path != "" {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("error reading config file: %w", err)
		}
	}
	c, err := ParseRouter(data)
	if err != nil {
		return nil, fmt.Errorf("error parsing config file: %w", err)
	}
	return c, nil
}

// Locate prefixes err with the line of the YAML key it names, when err was
// built by ReceiverError (or by this package's validation) and the key
// exists in the source.
func (c *RouterConfig) Locate(err error) error {
	return schema.Locate(c.source, err)
}

// ReceiverError attributes err to an integration entry
// (receivers[i].<key>[j]); pass it through Locate to get the line. It lets
// the integration packages validate their own blocks while errors still
// point into the file.
func ReceiverError(err error, receiver int, key string, entry int) error {
	return schema.At(schema.AtIndex(err, key, entry), "receivers", schema.Index(receiver))
}

// Marshal renders the configuration as YAML with secrets masked.
func (c *RouterConfig) Marshal() ([]byte, error) {
	if !c.Exporter.written && len(c.Exporters) > 0 {
		// The default exporter is no location when the file lists
		// exporters only: showing it would make /config say otherwise.
		shown := *c
		shown.Exporter = ExporterConfig{}
		return schema.MarshalYAML(&shown)
	}
	return schema.MarshalYAML(c)
}

// Receiver returns the receiver called name.
func (c *RouterConfig) Receiver(name string) (*Receiver, bool) {
	for i := range c.Receivers {
		if c.Receivers[i].Name == name {
			return &c.Receivers[i], true
		}
	}
	return nil, false
}

// ExporterReceivers returns who is told of the router's own alerts (the
// exporter is unreachable, the store was damaged): exporter.receivers, or
// else every receiver some rule uses.
func (c *RouterConfig) ExporterReceivers() []string {
	if len(c.Exporter.Receivers) > 0 {
		return c.Exporter.Receivers
	}
	var out []string
	seen := map[string]bool{}
	for _, x := range c.Exporters {
		for _, name := range x.Receivers {
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, r := range c.Rules {
		for _, name := range r.Receivers {
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	return out
}

func (c *RouterConfig) validate() error {
	if c.ExternalURL != "" {
		if err := validateHTTPURL(c.ExternalURL); err != nil {
			return schema.At(err, "external_url")
		}
	}
	if err := c.Checks.validate(); err != nil {
		return schema.At(err, "checks")
	}
	if err := c.Exporter.validate(time.Duration(c.Checks.Timeout)); err != nil {
		return schema.At(err, "exporter")
	}
	if err := c.resolveLocations(); err != nil {
		return err
	}
	if err := c.Delivery.validate(); err != nil {
		return schema.At(err, "delivery")
	}
	if c.Cluster != nil {
		if err := c.Cluster.validate(); err != nil {
			return schema.At(err, "cluster")
		}
	}
	if c.Global.ResolveTimeout <= 0 {
		return schema.At(errors.New("must be positive"), "global", "resolve_timeout")
	}
	intervals := map[string]bool{}
	for i := range c.TimeIntervals {
		s := &c.TimeIntervals[i]
		if err := s.validate(); err != nil {
			return schema.AtIndex(err, "time_intervals", i)
		}
		if intervals[s.Name] {
			return schema.AtIndex(schema.At(fmt.Errorf("time interval %q is defined twice", s.Name), "name"), "time_intervals", i)
		}
		intervals[s.Name] = true
	}
	names := map[string]bool{}
	for i := range c.Receivers {
		r := &c.Receivers[i]
		if err := r.validate(); err != nil {
			return schema.AtIndex(err, "receivers", i)
		}
		if names[r.Name] {
			return schema.AtIndex(schema.At(fmt.Errorf("receiver %q is defined twice", r.Name), "name"), "receivers", i)
		}
		names[r.Name] = true
	}
	for i := range c.Rules {
		if err := c.Rules[i].validate(names, intervals); err != nil {
			return schema.AtIndex(err, "rules", i)
		}
	}
	for i, name := range c.Exporter.Receivers {
		if !names[name] {
			return schema.At(fmt.Errorf("undefined receiver %q", name), "exporter", "receivers", schema.Index(i))
		}
	}
	for j := range c.Exporters {
		for i, name := range c.Exporters[j].Receivers {
			if !names[name] {
				return schema.AtIndex(schema.At(fmt.Errorf("undefined receiver %q", name), "receivers", schema.Index(i)), "exporters", j)
			}
		}
	}
	return nil
}

func (c *ExporterConfig) validate(checkTimeout time.Duration) error {
	if c.URL == "" {
		return schema.At(errors.New("url must be set"), "url")
	}
	if err := validateHTTPURL(c.URL); err != nil {
		return schema.At(err, "url")
	}
	if c.SDURL != "" {
		if err := validateHTTPURL(c.SDURL); err != nil {
			return schema.At(err, "sd_url")
		}
	}
	if c.SDRefreshInterval <= 0 {
		return schema.At(errors.New("must be positive"), "sd_refresh_interval")
	}
	if r := c.SDRemovalGuard.MaxRemovedRatio; !(r > 0 && r <= 1) {
		return schema.At(fmt.Errorf("%g is not a ratio in (0, 1]", r), "sd_removal_guard", "max_removed_ratio")
	}
	if c.SDRemovalGuard.Confirmations < 1 {
		return schema.At(errors.New("must be at least 1 (1: no confirmation)"), "sd_removal_guard", "confirmations")
	}
	if c.Timeout < 0 {
		return schema.At(errors.New("must not be negative"), "timeout")
	}
	if c.Timeout == 0 {
		c.Timeout = Duration(checkTimeout + 5*time.Second)
	}
	if c.Failures < 1 {
		return schema.At(errors.New("must be at least 1"), "failures")
	}
	if c.AlertAfter < 0 {
		return schema.At(errors.New("must not be negative"), "alert_after")
	}
	if err := c.HTTPConfig.Validate(); err != nil {
		return schema.At(err, "http_config")
	}
	return nil
}

// SDEndpoint returns where the target list is fetched.
func (c *ExporterConfig) SDEndpoint() string {
	if c.SDURL != "" {
		return c.SDURL
	}
	return trimSlash(c.URL) + "/sd"
}

// ProbeEndpoint returns the exporter's /probe URL.
func (c *ExporterConfig) ProbeEndpoint() string {
	return trimSlash(c.URL) + "/probe"
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

func (c *ChecksConfig) validate() error {
	if c.Interval <= 0 {
		return schema.At(errors.New("must be positive"), "interval")
	}
	for _, d := range []struct {
		key string
		v   *Duration
		def time.Duration
	}{{"retry_interval", &c.RetryInterval, DefaultRetryInterval}, {"timeout", &c.Timeout, DefaultCheckTimeout}} {
		switch {
		case *d.v == unsetDuration:
			// Prometheus's scrape_timeout rule: the default, but never
			// longer than the interval the user chose.
			*d.v = min(Duration(d.def), c.Interval)
		case *d.v <= 0:
			return schema.At(errors.New("must be positive"), d.key)
		case *d.v > c.Interval:
			return schema.At(fmt.Errorf("%s %s is longer than interval %s", d.key, *d.v, c.Interval), d.key)
		}
	}
	if c.MaxConcurrency < 0 {
		return schema.At(errors.New("must not be negative (0 sizes it to the checks)"), "max_concurrency")
	}
	return nil
}

func (c *DeliveryConfig) validate() error {
	for _, d := range []struct {
		key string
		v   Duration
	}{{"max_age", c.MaxAge}, {"min_backoff", c.MinBackoff}, {"max_backoff", c.MaxBackoff}, {"timeout", c.Timeout}} {
		if d.v <= 0 {
			return schema.At(errors.New("must be positive"), d.key)
		}
	}
	if c.MinBackoff > c.MaxBackoff {
		return schema.At(fmt.Errorf("min_backoff %s is longer than max_backoff %s", c.MinBackoff, c.MaxBackoff), "min_backoff")
	}
	return nil
}

func (r *Rule) validate(receivers, intervals map[string]bool) error {
	if r.Failures < 1 {
		return schema.At(errors.New("must be at least 1"), "failures")
	}
	if r.Successes < 1 {
		return schema.At(errors.New("must be at least 1"), "successes")
	}
	if r.RepeatInterval < 0 {
		return schema.At(errors.New("must not be negative (0 means never)"), "repeat_interval")
	}
	if r.GroupWait != nil && *r.GroupWait < 0 {
		return schema.At(errors.New("must not be negative"), "group_wait")
	}
	for i, l := range r.GroupBy {
		if !schema.ValidLabelName(l) && l != "..." {
			return schema.At(fmt.Errorf("invalid label name %q", l), "group_by", schema.Index(i))
		}
		if l == "..." && len(r.GroupBy) > 1 {
			return schema.At(errors.New("'...' (every label) cannot be combined with other labels"), "group_by", schema.Index(i))
		}
	}
	for _, key := range []struct {
		name  string
		names []string
	}{{"mute_time_intervals", r.MuteTimeIntervals}, {"active_time_intervals", r.ActiveTimeIntervals}} {
		for i, name := range key.names {
			if !intervals[name] {
				return schema.At(fmt.Errorf("undefined time interval %q", name), key.name, schema.Index(i))
			}
		}
	}
	if f := r.FlapDetection; f != nil {
		if f.Changes < 2 {
			return schema.At(errors.New("must be at least 2"), "flap_detection", "changes")
		}
		if f.Window <= 0 {
			return schema.At(errors.New("must be positive"), "flap_detection", "window")
		}
	}
	seen := map[string]bool{}
	for i, name := range r.Receivers {
		if !receivers[name] {
			return schema.At(fmt.Errorf("undefined receiver %q", name), "receivers", schema.Index(i))
		}
		if seen[name] {
			return schema.At(fmt.Errorf("receiver %q listed twice", name), "receivers", schema.Index(i))
		}
		seen[name] = true
	}
	return nil
}

func (r *Receiver) validate() error {
	if r.Name == "" {
		return schema.At(errors.New("name must be set"), "name")
	}
	for i := range r.WebhookConfigs {
		if err := r.WebhookConfigs[i].validate(); err != nil {
			return schema.AtIndex(err, "webhook_configs", i)
		}
	}
	for i := range r.LogConfigs {
		if err := r.LogConfigs[i].validate(); err != nil {
			return schema.AtIndex(err, "log_configs", i)
		}
	}
	return nil
}

func validateHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL %q must use http or https", s)
	}
	if u.Host == "" {
		return fmt.Errorf("URL %q has no host", s)
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		// It would end up in logs, notifications and /config.
		return fmt.Errorf("URL %q carries a password: use http_config.basic_auth instead", u.Redacted())
	}
	return nil
}
