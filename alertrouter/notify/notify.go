// Package notify defines what a receiver integration is: something that
// delivers one Notification and says whether a failure is worth retrying.
// Integrations live in subpackages (telegram, email, sms, webhook) and know
// nothing of checks, schedules or retries: the shared retry loop in dispatch
// decides when to try again.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Status of an alert or a notification, as in Alertmanager.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Alert is one thing that is (or was) wrong: a check of the router's own
// (labels include instance, module, and the target's discovery labels) or an
// alert posted by Prometheus. Field names follow Alertmanager's model so that
// webhook payloads are Alertmanager-compatible.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	// Status is StatusFiring or StatusResolved.
	Status string `json:"status"`
	// Reason is the failure reason of the last failed probe ("connection
	// refused"); empty for Prometheus alerts (see Annotations).
	Reason string `json:"reason,omitempty"`
	// Check is true for the router's own checks (which carry a
	// generatorURL too: the exporter's debug output of the probe).
	Check bool `json:"check,omitempty"`
	// FailedProbes is how many probes in a row had failed when a check was
	// announced DOWN (StartsAt is the first of them); 0 when not known or
	// not a DOWN.
	FailedProbes int `json:"failedProbes,omitempty"`
	// Locations are the last probe round of a check probed from several
	// locations, one entry per location in configuration order; empty
	// otherwise.
	Locations []LocationResult `json:"locations,omitempty"`
}

// LocationResult is what one location saw of a check in a probe round.
type LocationResult struct {
	Location string `json:"location"`
	// Failing: the location's exporter answered that the probe failed.
	Failing bool `json:"failing"`
	// Unreachable: the location's exporter did not answer; it did not
	// count in the round.
	Unreachable bool `json:"unreachable,omitempty"`
	// Reason is why it fails, or why its exporter did not answer.
	Reason string `json:"reason,omitempty"`
}

// Kind says what a notification announces.
type Kind string

// The kinds of notification.
const (
	KindDown        Kind = "down"     // checks confirmed DOWN / alerts firing
	KindUp          Kind = "up"       // recoveries
	KindReminder    Kind = "reminder" // still down (repeat_interval)
	KindFlapping    Kind = "flapping" // check changes state too often
	KindStable      Kind = "stable"   // flapping check settled
	KindExporterErr Kind = "exporter" // the exporter itself is unreachable
	KindTest        Kind = "test"     // sent by hand to check a receiver
	// KindStoreDamaged: the router's store could not be read and was
	// replaced by an empty one.
	KindStoreDamaged Kind = "store-damaged"
	// KindSummary replaces several waiting notifications to one
	// destination that would otherwise queue behind its rate limit: its
	// alerts are what is still down (firing) and what recovered
	// (resolved), one alert per incident.
	KindSummary Kind = "summary"
	// KindStore is the router's own alert about its store (it could not
	// be written for a while).
	KindStore Kind = "store"
)

// Notification is one message to one receiver integration. It may carry
// several alerts (a group).
type Notification struct {
	// Key identifies the notification for idempotency (incident and step):
	// the same Key is never delivered twice.
	Key      string  `json:"key"`
	Receiver string  `json:"receiver"`
	Kind     Kind    `json:"kind"`
	Status   string  `json:"status"` // StatusFiring or StatusResolved
	Alerts   []Alert `json:"alerts"`
	// GroupLabels are the labels the alerts were grouped by; CommonLabels
	// and CommonAnnotations are those every alert shares.
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	// ExternalURL is where to look (the router's status page).
	ExternalURL string    `json:"externalURL"`
	CreatedAt   time.Time `json:"createdAt"`
}

// Incidents names the incidents a notification speaks of, one per alert:
// the alert's fingerprint and start ("<fingerprint>@<unix nanoseconds>").
// A DOWN, its reminders and its UP name the same incident, whatever their
// keys (a group's key is derived from its members'). A notification whose
// alerts carry no fingerprint names itself by its key without the step.
func (n *Notification) Incidents() []string {
	var out []string
	for _, a := range n.Alerts {
		if a.Fingerprint != "" {
			out = append(out, a.Fingerprint+"@"+strconv.FormatInt(a.StartsAt.UnixNano(), 10))
		}
	}
	if len(out) == 0 {
		base := n.Key
		if i := strings.LastIndexByte(base, '|'); i > 0 {
			base = base[:i]
		}
		out = append(out, "key:"+base)
	}
	return out
}

// Notifier delivers notifications through one integration instance (one
// telegram_configs entry, one email_configs entry, …). It reports whether a
// failure is temporary (retry) or permanent.
type Notifier interface {
	Notify(ctx context.Context, n *Notification) (retry bool, err error)
}

// SlowProvider is implemented by integrations whose provider may take
// longer than delivery.timeout to answer while still processing the
// message: cutting the attempt short would make the retry send a copy.
// The dispatcher gives each attempt at least MinAttemptTimeout.
type SlowProvider interface {
	MinAttemptTimeout() time.Duration
}

// RetryAfterError is returned (wrapped) by integrations when the provider
// asked to wait (HTTP 429 Retry-After, Telegram parameters.retry_after).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns the delay a provider asked for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.After, true
	}
	return 0, false
}

// Rate is a provider's limit on one destination: at most Limit messages per
// Per. Key names the destination (e.g. "telegram:<chat id>") so that several
// integrations sending to the same destination share the budget.
type Rate struct {
	Key   string
	Limit int
	Per   time.Duration
}

// RateLimited is implemented by integrations whose provider limits how fast
// one destination may be sent to; dispatch waits rather than getting
// rejected.
type RateLimited interface {
	RateLimits() []Rate
}
