// Package sms delivers notifications via SMS. (Placeholder: the integration is being written.)
package sms

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/config"
)

// Notifier sends notifications for one sms_configs entry.
type Notifier struct{}

// New validates cfg and returns its notifier.
func New(cfg config.SMSConfig, logger *slog.Logger) (*Notifier, error) {
	return &Notifier{}, nil
}

// Notify implements notify.Notifier.
func (n *Notifier) Notify(ctx context.Context, msg *notify.Notification) (bool, error) {
	return false, errors.New("sms integration not implemented yet")
}
