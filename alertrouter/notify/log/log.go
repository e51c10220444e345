// Package log is the log_configs integration: it writes would-be
// notifications to the router's own log, one line each. The quick start uses
// it until a real receiver (Telegram, e-mail, …) is configured.
package log

import (
	"context"
	"log/slog"
	"sort"
	"strings"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// Notifier logs the notifications of one log_configs entry.
type Notifier struct {
	level  slog.Level
	logger *slog.Logger
}

// New returns the notifier; it logs to logger.
func New(cfg config.LogConfig, logger *slog.Logger) (*Notifier, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{level: cfg.SlogLevel(), logger: logger}, nil
}

// Notify implements notify.Notifier; logging cannot fail.
func (n *Notifier) Notify(ctx context.Context, msg *notify.Notification) (bool, error) {
	n.logger.Log(ctx, n.level, "Notification",
		"receiver", msg.Receiver, "kind", string(msg.Kind), "status", msg.Status,
		"alerts", len(msg.Alerts), "text", Summary(msg))
	return false, nil
}

// Summary renders a notification on one line: the alerts' summary
// annotations joined with "; " (or their labels when they have none). A
// test notification, which has no alert, says what it is.
func Summary(msg *notify.Notification) string {
	if msg.Kind == notify.KindTest && len(msg.Alerts) == 0 {
		return "TEST notification for receiver " + msg.Receiver + ": log notifications work"
	}
	parts := make([]string, 0, len(msg.Alerts))
	for _, a := range msg.Alerts {
		s := a.Annotations["summary"]
		if s == "" {
			s = labelString(a.Labels)
			if a.Reason != "" {
				s += ": " + a.Reason
			}
		}
		parts = append(parts, strings.Join(strings.Fields(s), " "))
	}
	return strings.Join(parts, "; ")
}

func labelString(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + "=" + `"` + labels[k] + `"`)
	}
	b.WriteByte('}')
	return b.String()
}
