package alertrouter

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/dispatch"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/email"
	lognotify "github.com/vigie-monitoring/vigie/alertrouter/notify/log"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/sms"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/webhook"
	"github.com/vigie-monitoring/vigie/alertrouter/telegrambot"
)

// BuildIntegrations creates the notifier of every integration entry of
// every receiver. Each integration package validates its own block; an
// error names the line and the entry in the configuration file.
func BuildIntegrations(cfg *config.RouterConfig, logger *slog.Logger) ([]*dispatch.Integration, error) {
	return buildIntegrations(cfg, logger)
}

// buildIntegrations is BuildIntegrations with options for the Telegram
// notifiers (where those with actions record their messages).
func buildIntegrations(cfg *config.RouterConfig, logger *slog.Logger, tgOpts ...telegram.Option) ([]*dispatch.Integration, error) {
	var out []*dispatch.Integration
	for i := range cfg.Receivers {
		rc := &cfg.Receivers[i]
		add := func(typ string, j int, sendResolved *bool, build func(*slog.Logger) (notify.Notifier, error)) error {
			id := fmt.Sprintf("%s/%s/%d", rc.Name, typ, j)
			n, err := build(logger.With("integration", id))
			if err != nil {
				return cfg.Locate(config.ReceiverError(err, i, typ+"_configs", j))
			}
			out = append(out, &dispatch.Integration{
				ID: id, Receiver: rc.Name, Type: typ, Notifier: scrub(n),
				SendResolved: config.SendResolvedOr(sendResolved, true),
			})
			return nil
		}
		for j, c := range rc.TelegramConfigs {
			if err := add("telegram", j, c.SendResolved, func(l *slog.Logger) (notify.Notifier, error) { return telegram.New(c, l, tgOpts...) }); err != nil {
				return nil, err
			}
		}
		for j, c := range rc.EmailConfigs {
			if err := add("email", j, c.SendResolved, func(l *slog.Logger) (notify.Notifier, error) { return email.New(c, l) }); err != nil {
				return nil, err
			}
		}
		for j, c := range rc.SMSConfigs {
			if err := add("sms", j, c.SendResolved, func(l *slog.Logger) (notify.Notifier, error) { return sms.New(c, l) }); err != nil {
				return nil, err
			}
		}
		for j, c := range rc.WebhookConfigs {
			if err := add("webhook", j, c.SendResolved, func(l *slog.Logger) (notify.Notifier, error) { return webhook.New(c, l) }); err != nil {
				return nil, err
			}
		}
		for j, c := range rc.LogConfigs {
			if err := add("log", j, c.SendResolved, func(l *slog.Logger) (notify.Notifier, error) { return lognotify.New(c, l) }); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// scrub makes every error of an integration pass through notify.ScrubURLs
// before the dispatcher logs it, stores it and the status page shows it:
// whatever an integration did not redact itself, a URL never shows more
// than its scheme and host (gateways and webhooks take their keys in the
// path or the query). The wrapper keeps what else the integration tells
// the dispatcher: its rate limits, and that its provider is slow to answer
// (Telegram's attempts must outlast api.telegram.org's own timeout).
func scrub(n notify.Notifier) notify.Notifier {
	s := scrubbing{n}
	rl, limited := n.(notify.RateLimited)
	sp, slow := n.(notify.SlowProvider)
	switch {
	case limited && slow:
		return struct {
			scrubbing
			notify.RateLimited
			notify.SlowProvider
		}{s, rl, sp}
	case limited:
		return struct {
			scrubbing
			notify.RateLimited
		}{s, rl}
	case slow:
		return struct {
			scrubbing
			notify.SlowProvider
		}{s, sp}
	}
	return s
}

type scrubbing struct{ n notify.Notifier }

func (s scrubbing) Notify(ctx context.Context, msg *notify.Notification) (bool, error) {
	retry, err := s.n.Notify(ctx, msg)
	return retry, notify.ScrubError(err)
}

// buildIntegrations builds the router's integrations: Telegram notifiers
// with actions record their messages with buttons in the store.
func (r *Router) buildIntegrations(cfg *config.RouterConfig) ([]*dispatch.Integration, error) {
	return buildIntegrations(cfg, r.logger, telegram.WithMessageLog(routerMessageLog{r}))
}

// routerMessageLog is the store's message log, looked up at each use: the
// integrations are built before the store is open.
type routerMessageLog struct{ r *Router }

func (l routerMessageLog) Sent(bot string, m telegram.SentMessage) error {
	return telegrambot.MessageLog(l.r.store).Sent(bot, m)
}

func (l routerMessageLog) Ended(bot string, incidents []string) ([]telegram.SentMessage, error) {
	return telegrambot.MessageLog(l.r.store).Ended(bot, incidents)
}
