package dispatch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// TestResult is what one integration made of a test notification.
type TestResult struct {
	// Integration is the integration's ID ("<receiver>/<type>/<index>").
	Integration string
	Type        string
	// Error is empty when the provider accepted the message; otherwise
	// the provider's error, scrubbed of credentials (notify.ScrubErrorText)
	// and fit to be shown.
	Error string
	// Retry says the error is temporary: a real notification would be
	// retried.
	Retry    bool
	Duration time.Duration
}

// TestNotification is the message a receiver test sends: kind test, no
// alert, and a key of its own, so that it can never be taken for (or
// deduplicated against) a real notification.
func TestNotification(receiver, externalURL string, now time.Time) *notify.Notification {
	return &notify.Notification{
		Key:         fmt.Sprintf("test|%s|%d", receiver, now.UnixNano()),
		Receiver:    receiver,
		Kind:        notify.KindTest,
		Status:      notify.StatusFiring,
		ExternalURL: externalURL,
		CreatedAt:   now,
	}
}

// SendTest sends n through every integration given, at once and directly:
// not through the outbox, not retried, not rate limited, so that whoever
// asked learns at once what the provider says. Each attempt gets the
// timeout the dispatcher would give it (policy timeout, or more for a slow
// provider). Results are in the integrations' order.
func SendTest(ctx context.Context, integrations []*Integration, n *notify.Notification, timeout time.Duration) []TestResult {
	out := make([]TestResult, len(integrations))
	var wg sync.WaitGroup
	for i, in := range integrations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := timeout
			if sp, ok := in.Notifier.(notify.SlowProvider); ok {
				t = max(t, sp.MinAttemptTimeout())
			}
			actx, cancel := context.WithTimeout(ctx, t)
			defer cancel()
			start := time.Now()
			msg := *n // each integration gets its own copy
			retry, err := in.Notifier.Notify(actx, &msg)
			r := TestResult{Integration: in.ID, Type: in.Type, Duration: time.Since(start)}
			if err != nil {
				r.Error, r.Retry = notify.ScrubErrorText(err.Error()), retry
			}
			out[i] = r
		}()
	}
	wg.Wait()
	return out
}

// ReceiverIntegrations returns the integrations of one receiver, in the
// order of the list (the configuration's).
func ReceiverIntegrations(list []*Integration, receiver string) []*Integration {
	var out []*Integration
	for _, in := range list {
		if in.Receiver == receiver {
			out = append(out, in)
		}
	}
	return out
}
