// Package email delivers notifications via Email. (Placeholder: the integration is being written.)
package email

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/config"
)

// Notifier sends notifications for one email_configs entry.
type Notifier struct{}

// New validates cfg and returns its notifier.
func New(cfg config.EmailConfig, logger *slog.Logger) (*Notifier, error) {
	return &Notifier{}, nil
}

// Notify implements notify.Notifier.
func (n *Notifier) Notify(ctx context.Context, msg *notify.Notification) (bool, error) {
	return false, errors.New("email integration not implemented yet")
}
