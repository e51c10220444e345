// Package telegram delivers notifications via Telegram. (Placeholder: the integration is being written.)
package telegram

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/config"
)

// Notifier sends notifications for one telegram_configs entry.
type Notifier struct{}

// New validates cfg and returns its notifier.
func New(cfg config.TelegramConfig, logger *slog.Logger) (*Notifier, error) {
	return &Notifier{}, nil
}

// Notify implements notify.Notifier.
func (n *Notifier) Notify(ctx context.Context, msg *notify.Notification) (bool, error) {
	return false, errors.New("telegram integration not implemented yet")
}
