// Package alerts is the pipeline's alert-ingest stage: the alerts posted
// by Prometheus on the Alertmanager API (POST /api/v2/alerts). It keeps
// the alerts that fire, identified by their labels' fingerprint; posting
// one again refreshes it; it is resolved when its endsAt passes without a
// refresh, or when it is posted with an endsAt in the past. It feeds the
// incident stage, which routes alerts through the same rules and
// receivers as checks (repeat_interval, grouping, silences, maintenance
// windows and depends_on apply; failures, successes and flap detection do
// not: Prometheus already decided).
package alerts

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// LimitAlerts names Options.Max (its flag) in refusals and metrics.
const LimitAlerts = "alerts.max-alerts"

// LimitError says which alerts were refused because the router already
// keeps Options.Max firing alerts. Known alerts are always refreshed; only
// new ones are refused.
type LimitError struct {
	Limit int
	// Refused are indexes in the alerts given.
	Refused []int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the router already keeps %d firing alerts (--%s=%d): new alerts are refused until some resolve", e.Limit, LimitAlerts, e.Limit)
}

// Alert is one Prometheus alert the router knows, firing.
type Alert struct {
	notify.Alert // Status is always firing here: resolved alerts are forgotten
	UpdatedAt    time.Time
	// Opened is when the router opened it: it names the incident in
	// idempotency keys, so that an alert firing again after its
	// resolution is a new incident even with the same startsAt.
	Opened time.Time
}

// Record fills the ingest stage's part of a saved alert.
func (a *Alert) Record(rec *store.AlertRecord) {
	rec.Alert, rec.UpdatedAt, rec.Incident = a.Alert, a.UpdatedAt, a.Opened
}

// Sink is what alerts feed: the incident stage.
type Sink interface {
	// AlertFiring says a (new or refreshed) alert fires.
	AlertFiring(a *Alert, now time.Time)
	// AlertResolved says it ended; it is forgotten after the call.
	AlertResolved(a *Alert, now time.Time)
}

// Options configure the stage.
type Options struct {
	Out Sink
	// Max bounds the alerts kept firing (--alerts.max-alerts): Take refuses
	// new ones beyond it. 0: no limit.
	Max int
	// ResolveTimeout is the endsAt of an alert posted without one
	// (global.resolve_timeout).
	ResolveTimeout time.Duration
	Logger         *slog.Logger
	Metrics        *Metrics
}

// Metrics are the stage's instruments.
type Metrics struct {
	alerts   prometheus.Gauge
	received prometheus.Counter
}

// NewMetrics creates the stage's metrics; they are registered on reg
// unless it is nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		alerts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_router_alerts",
			Help: "Prometheus alerts firing, as received on /api/v2/alerts.",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_alerts_received_total",
			Help: "Valid alerts received on /api/v2/alerts (new ones and refreshes).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.alerts, m.received)
	}
	return m
}

// Ingest keeps the firing alerts.
type Ingest struct {
	o          Options
	firing     map[string]*Alert
	nextExpiry time.Time // earliest endsAt (zero: none)
	dirty      map[string]bool
}

// New returns the stage without alerts.
func New(o Options) *Ingest {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	return &Ingest{o: o, firing: map[string]*Alert{}, dirty: map[string]bool{}}
}

// SetResolveTimeout applies a reloaded global.resolve_timeout.
func (in *Ingest) SetResolveTimeout(d time.Duration) { in.o.ResolveTimeout = d }

// Validate splits alerts into the valid ones (with their indexes in
// alerts) and an error naming the others, one line each.
func Validate(alerts []notify.Alert) ([]notify.Alert, []int, error) {
	valid := make([]notify.Alert, 0, len(alerts))
	index := make([]int, 0, len(alerts))
	var errs []error
	for i := range alerts {
		if err := notify.ValidateAlert(&alerts[i]); err != nil {
			errs = append(errs, fmt.Errorf("alert %d: %w", i, err))
			continue
		}
		valid = append(valid, alerts[i])
		index = append(index, i)
	}
	return valid, index, errors.Join(errs...)
}

// Take applies posted alerts (valid ones) and returns the indexes of
// those refused for Options.Max.
func (in *Ingest) Take(batch []notify.Alert, now time.Time) (refused []int) {
	for i := range batch {
		if !in.take(&batch[i], now) {
			refused = append(refused, i)
		}
	}
	in.o.Metrics.received.Add(float64(len(batch) - len(refused)))
	return refused
}

// take applies one alert; it is false when the alert is new and the stage
// already keeps Max.
func (in *Ingest) take(p *notify.Alert, now time.Time) bool {
	fp := notify.Fingerprint(p.Labels)
	a, known := in.firing[fp]
	firing := p.EndsAt.IsZero() || p.EndsAt.After(now)
	if !known && firing && in.o.Max > 0 && len(in.firing) >= in.o.Max {
		return false
	}
	startsAt, endsAt := p.StartsAt, p.EndsAt
	if startsAt.IsZero() {
		startsAt = now
	}
	if endsAt.IsZero() {
		endsAt = now.Add(in.o.ResolveTimeout)
	}
	if !known && !endsAt.After(now) {
		return true // resolved, and nobody was told it fired (or was already told it ended)
	}
	if !known {
		a = &Alert{Opened: now}
		a.Labels, a.Fingerprint, a.StartsAt, a.Status = maps.Clone(p.Labels), fp, startsAt, notify.StatusFiring
		in.firing[fp] = a
		in.o.Metrics.alerts.Set(float64(len(in.firing)))
		in.o.Logger.Info("Alert received", "alertname", a.Labels[model.AlertNameLabel], "fingerprint", fp)
	}
	if startsAt.Before(a.StartsAt) {
		a.StartsAt = startsAt
	}
	a.Annotations = maps.Clone(p.Annotations)
	if a.Annotations == nil {
		a.Annotations = map[string]string{}
	}
	a.GeneratorURL, a.EndsAt, a.UpdatedAt = p.GeneratorURL, endsAt, now
	in.dirty[fp] = true
	if !endsAt.After(now) {
		in.resolve(a, now)
		return true
	}
	if in.nextExpiry.IsZero() || endsAt.Before(in.nextExpiry) {
		in.nextExpiry = endsAt
	}
	in.o.Out.AlertFiring(a, now)
	return true
}

// resolve ends an alert, then forgets it.
func (in *Ingest) resolve(a *Alert, now time.Time) {
	in.o.Logger.Info("Alert resolved", "alertname", a.Labels[model.AlertNameLabel], "fingerprint", a.Fingerprint)
	in.o.Out.AlertResolved(a, now)
	delete(in.firing, a.Fingerprint)
	in.dirty[a.Fingerprint] = true
	in.o.Metrics.alerts.Set(float64(len(in.firing)))
}

// Expire resolves the alerts whose endsAt has passed.
func (in *Ingest) Expire(now time.Time) {
	if in.nextExpiry.IsZero() || in.nextExpiry.After(now) {
		return
	}
	in.nextExpiry = time.Time{}
	for _, fp := range sortedKeys(in.firing) {
		a := in.firing[fp]
		if !a.EndsAt.After(now) {
			in.resolve(a, now)
			continue
		}
		if in.nextExpiry.IsZero() || a.EndsAt.Before(in.nextExpiry) {
			in.nextExpiry = a.EndsAt
		}
	}
}

// NextExpiry is when Expire has something to do (zero: nothing).
func (in *Ingest) NextExpiry() time.Time { return in.nextExpiry }

// Get returns a firing alert, or nil.
func (in *Ingest) Get(fp string) *Alert { return in.firing[fp] }

// Len is the number of firing alerts.
func (in *Ingest) Len() int { return len(in.firing) }

// Restore takes back the alerts saved by the last run and returns them;
// those whose endsAt passed meanwhile are resolved at the first Expire.
func (in *Ingest) Restore(recs map[string]*store.AlertRecord) []*Alert {
	out := make([]*Alert, 0, len(recs))
	for _, fp := range sortedKeys(recs) {
		rec := recs[fp]
		a := &Alert{Alert: rec.Alert, UpdatedAt: rec.UpdatedAt, Opened: rec.Incident}
		a.Fingerprint, a.Status = fp, notify.StatusFiring
		if a.Annotations == nil {
			a.Annotations = map[string]string{}
		}
		in.firing[fp] = a
		if in.nextExpiry.IsZero() || a.EndsAt.Before(in.nextExpiry) {
			in.nextExpiry = a.EndsAt
		}
		out = append(out, a)
	}
	in.o.Metrics.alerts.Set(float64(len(in.firing)))
	return out
}

// TakeDirty returns the alerts changed (or resolved) since the last call.
func (in *Ingest) TakeDirty() []string {
	if len(in.dirty) == 0 {
		return nil
	}
	out := sortedKeys(in.dirty)
	clear(in.dirty)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
