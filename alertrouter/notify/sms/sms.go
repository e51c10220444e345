// Package sms delivers notifications by SMS through a provider: Twilio,
// Free Mobile (the subscriber's own line), OVHcloud, or any HTTP API.
//
// Texts are short: by default transliterated to printable ASCII (GSM-7
// safe, "é" → "e", emoji dropped) and kept within one segment (160
// characters; 70 with unicode: true), a group being summarised ("3 DOWN:
// a, b +1 more") and a single over-long alert cut. max_length allows
// longer, multi-segment messages. Credentials never appear in errors or
// logs.
package sms

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode/utf16"

	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

//go:embed default.tmpl
var defaultTemplate string

// Notifier sends notifications for one sms_configs entry.
type Notifier struct {
	cfg          config.SMSConfig
	client       *http.Client
	tmpl         *notify.Template
	logger       *slog.Logger
	maxLength    int
	sendResolved bool
	now          func() time.Time
	send         func(ctx context.Context, data *notify.Data, text string) (bool, error)

	// http provider: url and body templates (no fallback: a request built
	// from a default would not match the user's API anyway).
	urlTmpl, bodyTmpl *template.Template

	// ovh: difference between OVH's clock and ours, learnt once.
	ovhMu        sync.Mutex
	ovhTimeDelta *time.Duration
}

// New validates cfg and returns its notifier. Secret files are read here
// (to fail early) and again at every send.
func New(cfg config.SMSConfig, logger *slog.Logger) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{
		cfg:          cfg,
		logger:       logger,
		maxLength:    cfg.SMSMaxLength(),
		sendResolved: cfg.SendResolved == nil || *cfg.SendResolved,
		now:          time.Now,
	}
	httpCfg := pconfig.DefaultHTTPClientConfig
	if cfg.HTTPConfig != nil {
		httpCfg = *cfg.HTTPConfig
	}
	var err error
	if n.client, err = pconfig.NewClientFromConfig(httpCfg, "sms", pconfig.WithUserAgent("vigie")); err != nil {
		return nil, fmt.Errorf("http_config: %w", err)
	}
	// A safety net: the dispatcher's context normally bounds each attempt,
	// but a provider that never answers must not hold a worker forever.
	n.client.Timeout = notify.DefaultRequestTimeout
	if n.tmpl, err = notify.NewTextTemplate("message", cfg.Message, defaultTemplate, logger); err != nil {
		return nil, err
	}
	switch cfg.Provider {
	case config.SMSProviderTwilio:
		n.send = n.sendTwilio
	case config.SMSProviderFreeMobile:
		n.send = n.sendFreeMobile
	case config.SMSProviderOVH:
		n.send = n.sendOVH
	case config.SMSProviderHTTP:
		n.send = n.sendHTTP
		if err := n.parseHTTPTemplates(); err != nil {
			return nil, err
		}
	}
	if _, err := n.secrets(); err != nil {
		return nil, err
	}
	return n, nil
}

// secrets reads the provider's credentials (from their files when
// configured); errors name the key, never the content.
func (n *Notifier) secrets() ([]string, error) {
	read := func(key string, inline pconfig.Secret, file string) (string, error) {
		s, err := notify.ReadSecret(inline, file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", key, err)
		}
		return s, nil
	}
	switch n.cfg.Provider {
	case config.SMSProviderTwilio:
		token, err := read("auth_token", n.cfg.AuthToken, n.cfg.AuthTokenFile)
		return []string{token}, err
	case config.SMSProviderFreeMobile:
		pass, err := read("pass", n.cfg.Pass, n.cfg.PassFile)
		return []string{pass}, err
	case config.SMSProviderOVH:
		as, err := read("application_secret", n.cfg.ApplicationSecret, n.cfg.ApplicationSecretFile)
		if err != nil {
			return nil, err
		}
		ck, err := read("consumer_key", n.cfg.ConsumerKey, n.cfg.ConsumerKeyFile)
		return []string{as, ck}, err
	}
	return nil, nil
}

// RateLimits implements notify.RateLimited: max_per_hour messages per
// destination (default 20), and for Twilio one message a second per
// sending number (a long code's throughput).
func (n *Notifier) RateLimits() []notify.Rate {
	dest := n.cfg.To
	if n.cfg.Provider == config.SMSProviderFreeMobile {
		dest = n.cfg.User
	}
	rates := []notify.Rate{{Key: "sms:" + n.cfg.Provider + ":" + dest, Limit: n.cfg.SMSMaxPerHour(), Per: time.Hour}}
	if n.cfg.Provider == config.SMSProviderTwilio {
		rates = append(rates, notify.Rate{Key: "sms:twilio:from:" + n.cfg.From, Limit: 1, Per: time.Second})
	}
	return rates
}

// Notify implements notify.Notifier.
func (n *Notifier) Notify(ctx context.Context, msg *notify.Notification) (bool, error) {
	if !n.sendResolved && msg.Status == notify.StatusResolved && msg.Kind != notify.KindTest {
		n.logger.Debug("Not sending a resolved notification (send_resolved: false)", "key", msg.Key)
		return false, nil
	}
	data := notify.NewData(msg, n.now())
	text, err := n.render(data)
	if err != nil {
		return false, fmt.Errorf("sms %s: %w", n.cfg.Provider, err)
	}
	return n.send(ctx, data, text)
}

// render builds the text: transliterated, summarised to max_length, and
// cut as a last resort (plain text cuts safely).
func (n *Notifier) render(data *notify.Data) (string, error) {
	render := func(d *notify.Data) (string, error) {
		text, err := n.tmpl.Execute(d)
		return n.clean(text), err
	}
	text, fit, err := notify.Summarise(data, render, func(s string) bool { return n.length(s) <= n.maxLength })
	if err != nil {
		return "", err
	}
	if text == "" {
		return "", errors.New("the message template rendered an empty message")
	}
	if !fit {
		text = n.cut(text)
	}
	return text, nil
}

// clean transliterates (unless unicode) and tidies white space: SMS
// screens are small.
func (n *Notifier) clean(s string) string {
	if !n.cfg.Unicode {
		s = strings.ReplaceAll(notify.ASCII(s), "`", "'") // ` is not in GSM-7
	}
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// length counts what the network counts: GSM-7 septets (the extension
// characters take two) for ASCII text, UTF-16 code units with unicode.
func (n *Notifier) length(s string) int {
	count := 0
	for _, r := range s {
		switch {
		case n.cfg.Unicode:
			count += utf16.RuneLen(r)
		case strings.ContainsRune("^{}\\[~]|", r):
			count += 2
		default:
			count++
		}
	}
	return count
}

// cut shortens s to max_length, ending with an ellipsis.
func (n *Notifier) cut(s string) string {
	ellipsis := "..."
	if n.cfg.Unicode {
		ellipsis = "…"
	}
	limit := n.maxLength - n.length(ellipsis)
	count := 0
	for i, r := range s {
		count += n.length(string(r))
		if count > limit {
			return strings.TrimSpace(s[:i]) + ellipsis
		}
	}
	return s
}

// httpError is a provider's refusal, classified by HTTP status.
func (n *Notifier) refused(status int, header http.Header, msg string) (bool, error) {
	err := fmt.Errorf("sms %s: %s", n.cfg.Provider, msg)
	if status == http.StatusTooManyRequests {
		if after, ok := notify.RetryAfterHeader(header, n.now()); ok {
			return true, &notify.RetryAfterError{After: after, Err: err}
		}
	}
	return notify.RetryableStatus(status), err
}

// transportError reports a request that got no answer, without secrets.
func (n *Notifier) transportError(err error, secrets []string) (bool, error) {
	return true, fmt.Errorf("sms %s: %w", n.cfg.Provider, notify.RedactError(err, secrets...))
}
