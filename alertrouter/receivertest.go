package alertrouter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/dispatch"
)

// ErrUnknownReceiver is returned when a test names no configured receiver.
var ErrUnknownReceiver = errors.New("unknown receiver")

// SendTestNotification builds the integrations of one receiver of cfg, as
// the router does at start, and sends a test notification (kind test)
// through each of them directly: what `vigie_router test-notification`
// does. externalURL overrides cfg.ExternalURL when set. The error is for a
// receiver that cannot be tested at all; what each provider said is in the
// results.
func SendTestNotification(ctx context.Context, cfg *config.RouterConfig, receiver, externalURL string, logger *slog.Logger) ([]dispatch.TestResult, error) {
	if err := knownReceiver(cfg, receiver); err != nil {
		return nil, err
	}
	integrations, err := BuildIntegrations(cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("error in receivers: %w", err)
	}
	if externalURL == "" {
		externalURL = cfg.ExternalURL
	}
	return sendTest(ctx, cfg, integrations, receiver, externalURL)
}

// SendTestNotification sends a test notification through every
// integration of a receiver of the running configuration (the status
// page's "Send test" button).
func (r *Router) SendTestNotification(ctx context.Context, receiver string) ([]dispatch.TestResult, error) {
	rs := r.receivers.Load()
	cfg, integrations := rs.cfg, rs.integrations
	if err := knownReceiver(cfg, receiver); err != nil {
		return nil, err
	}
	url := cfg.ExternalURL
	if r.opts.ExternalURL != "" {
		url = r.opts.ExternalURL
	}
	return sendTest(ctx, cfg, integrations, receiver, url)
}

func knownReceiver(cfg *config.RouterConfig, name string) error {
	var names []string
	for _, rc := range cfg.Receivers {
		if rc.Name == name {
			return nil
		}
		names = append(names, rc.Name)
	}
	return fmt.Errorf("%w %q: the configuration has %s", ErrUnknownReceiver, name, strings.Join(quoteAll(names), ", "))
}

func quoteAll(names []string) []string {
	if len(names) == 0 {
		return []string{"no receiver"}
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf("%q", n)
	}
	return out
}

func sendTest(ctx context.Context, cfg *config.RouterConfig, integrations []*dispatch.Integration, receiver, externalURL string) ([]dispatch.TestResult, error) {
	list := dispatch.ReceiverIntegrations(integrations, receiver)
	if len(list) == 0 {
		return nil, fmt.Errorf("receiver %q has no integration to test", receiver)
	}
	n := dispatch.TestNotification(receiver, externalURL, time.Now())
	return dispatch.SendTest(ctx, list, n, cfg.Delivery.Timeout.Std()), nil
}

// receiverSet is a configuration and the integrations built from it.
type receiverSet struct {
	cfg          *config.RouterConfig
	integrations []*dispatch.Integration
}
