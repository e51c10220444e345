package engine

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Prometheus alerts (POST /api/v2/alerts) are routed through the same
// rules and receivers as checks: firing is a DOWN (KindDown, "FIRING"),
// resolved an UP, repeat_interval reminds, grouping, silences, maintenance
// windows and depends_on apply; failures, successes and flap detection do
// not (Prometheus already decided). An alert is identified by its labels'
// fingerprint; posting it again refreshes it; it is resolved when its
// endsAt passes without a refresh, or when it is posted with an endsAt in
// the past.

// alertState is one Prometheus alert the router knows, firing.
type alertState struct {
	notify.Alert // Status is always firing here: resolved alerts are forgotten
	updatedAt    time.Time
	incident     time.Time // when the router opened it (idempotency keys)
	notified     map[string]store.Notified
	pol          *policy

	// For the View, as last evaluated.
	silencedBy   []string
	mutedBy      []string // time intervals
	suppressedBy string
	allMuted     bool // every route is held
}

// ErrStopped is returned by IngestAlerts once the engine has stopped.
var ErrStopped = errors.New("the router is shutting down")

// ingestTimeout bounds how long IngestAlerts waits for the engine.
const ingestTimeout = 30 * time.Second

type ingestRequest struct {
	alerts []notify.Alert
	done   chan error
	// refused are the indexes in alerts of those refused for
	// Options.MaxAlerts; set by the Run goroutine before done.
	refused []int
}

// LimitAlerts names Options.MaxAlerts (its flag) in refusals and metrics.
const LimitAlerts = "alerts.max-alerts"

// AlertLimitError says which alerts IngestAlerts refused because the
// router already keeps Options.MaxAlerts firing alerts. Known alerts are
// always refreshed; only new ones are refused.
type AlertLimitError struct {
	Limit int
	// Refused are indexes in the slice given to IngestAlerts.
	Refused []int
}

func (e *AlertLimitError) Error() string {
	return fmt.Sprintf("the router already keeps %d firing alerts (--%s=%d): new alerts are refused until some resolve", e.Limit, LimitAlerts, e.Limit)
}

// IngestAlerts takes alerts posted on the Alertmanager API: they are routed
// through the same rules and receivers as checks, and resolved when their
// endsAt passes without a refresh. It is safe to call from any goroutine.
//
// Invalid alerts (no labels, no alertname, a bad label name, endsAt before
// startsAt) are reported in the error, one line each, and the valid ones
// are still taken, as Alertmanager does (answer 400 with the error). It
// returns once the valid ones are processed and saved, so that a View
// taken afterwards shows them.
func (e *Engine) IngestAlerts(alerts []notify.Alert) error {
	valid, index, invalid := validateAlerts(alerts)
	if len(valid) == 0 {
		return invalid
	}
	req := &ingestRequest{alerts: valid, done: make(chan error, 1)}
	timeout := time.NewTimer(ingestTimeout)
	defer timeout.Stop()
	select {
	case e.alertsIn <- req:
	case <-e.stopped:
		return errors.Join(invalid, ErrStopped)
	case <-timeout.C:
		return errors.Join(invalid, errors.New("the router is too busy to take alerts; try again"))
	}
	select {
	case err := <-req.done:
		if len(req.refused) > 0 {
			le := &AlertLimitError{Limit: e.maxAlerts}
			for _, i := range req.refused {
				le.Refused = append(le.Refused, index[i])
			}
			err = errors.Join(err, le)
		}
		return errors.Join(invalid, err)
	case <-e.stopped:
		return errors.Join(invalid, ErrStopped)
	case <-timeout.C:
		return errors.Join(invalid, errors.New("the router took the alerts but did not confirm in time"))
	}
}

// validateAlerts splits alerts into the valid ones (with their indexes in
// alerts) and an error naming the others.
func validateAlerts(alerts []notify.Alert) ([]notify.Alert, []int, error) {
	valid := make([]notify.Alert, 0, len(alerts))
	index := make([]int, 0, len(alerts))
	var errs []error
	for i, a := range alerts {
		if err := validateAlert(a); err != nil {
			errs = append(errs, fmt.Errorf("alert %d: %w", i, err))
			continue
		}
		valid = append(valid, a)
		index = append(index, i)
	}
	return valid, index, errors.Join(errs...)
}

func validateAlert(a notify.Alert) error {
	if len(a.Labels) == 0 {
		return errors.New("at least one label pair required")
	}
	if a.Labels[model.AlertNameLabel] == "" {
		return errors.New("alertname label required")
	}
	for k, v := range a.Labels {
		// Any UTF-8 name, as Prometheus 3 and Alertmanager 0.28 allow.
		if !model.LabelName(k).IsValid() || k == "" {
			return fmt.Errorf("invalid label name %q", k)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("invalid value of label %q: not UTF-8", k)
		}
	}
	if !a.StartsAt.IsZero() && !a.EndsAt.IsZero() && a.EndsAt.Before(a.StartsAt) {
		return errors.New("start time must be before end time")
	}
	return nil
}

// ingest applies posted alerts (already valid) in the Run goroutine.
func (e *Engine) ingest(req *ingestRequest, now time.Time) {
	for i, a := range req.alerts {
		if !e.ingestOne(a, now) {
			req.refused = append(req.refused, i)
		}
	}
	e.metrics.alertsReceived.Add(float64(len(req.alerts) - len(req.refused)))
}

// ingestOne applies one alert; it is false when the alert is new and the
// engine already keeps MaxAlerts.
func (e *Engine) ingestOne(in notify.Alert, now time.Time) bool {
	fp := fingerprint(in.Labels)
	firing := in.EndsAt.IsZero() || in.EndsAt.After(now)
	if _, known := e.alerts[fp]; !known && firing && e.maxAlerts > 0 && len(e.alerts) >= e.maxAlerts {
		return false
	}
	labels := maps.Clone(in.Labels)
	startsAt, endsAt := in.StartsAt, in.EndsAt
	if startsAt.IsZero() {
		startsAt = now
	}
	if endsAt.IsZero() {
		endsAt = now.Add(e.cfg.Global.ResolveTimeout.Std())
	}
	st, known := e.alerts[fp]
	if !known && !endsAt.After(now) {
		return true // resolved, and nobody was told it fired (or was already told it ended)
	}
	if !known {
		st = &alertState{incident: now, pol: e.policyFor(labels)}
		st.Labels, st.Fingerprint, st.StartsAt, st.Status = labels, fp, startsAt, notify.StatusFiring
		e.alerts[fp] = st
		e.metrics.alerts.Set(float64(len(e.alerts)))
		e.logger.Info("Alert received", "alertname", labels[model.AlertNameLabel], "fingerprint", fp)
	}
	if startsAt.Before(st.StartsAt) {
		st.StartsAt = startsAt
	}
	st.Annotations = maps.Clone(in.Annotations)
	if st.Annotations == nil {
		st.Annotations = map[string]string{}
	}
	st.GeneratorURL, st.EndsAt, st.updatedAt = in.GeneratorURL, endsAt, now
	e.dirtyAlerts[fp] = true
	e.alertsChanged()
	if !endsAt.After(now) {
		e.resolveAlert(st, now)
		return true
	}
	if e.nextExpiry.IsZero() || endsAt.Before(e.nextExpiry) {
		e.nextExpiry = endsAt
	}
	h := e.holdAlert(st, now)
	e.announceAlert(st, h, now)
	e.remindAlert(st, h, now)
	return true
}

// holdAlert evaluates what holds back an alert's notifications and records
// it for the View.
func (e *Engine) holdAlert(st *alertState, now time.Time) *hold {
	h := e.holdFor(st.Labels, st.pol, nil, now)
	st.silencedBy, st.mutedBy, st.suppressedBy = h.silenced, h.windowNames(), h.parent
	st.allMuted = len(st.pol.routes) > 0
	for i := range st.pol.routes {
		st.allMuted = st.allMuted && h.blocks(i)
	}
	return h
}

// announceAlert sends FIRING to the alert's receivers that have not heard
// of it and may hear of it now.
func (e *Engine) announceAlert(st *alertState, h *hold, now time.Time) {
	for i := range st.pol.routes {
		r := &st.pol.routes[i]
		if _, ok := st.notified[r.receiver]; ok || h.blocks(i) {
			continue
		}
		if st.notified == nil {
			st.notified = map[string]store.Notified{}
		}
		st.notified[r.receiver] = store.Notified{At: now}
		e.dirtyAlerts[st.Fingerprint] = true
		e.emit(e.alertNotification(st, notify.KindDown, notify.StatusFiring, r.receiver, now, "down"), r, st.Labels, now)
	}
}

// remindAlert says "still firing" after repeat_interval, unless held.
func (e *Engine) remindAlert(st *alertState, h *hold, now time.Time) {
	for i := range st.pol.routes {
		r := &st.pol.routes[i]
		n, ok := st.notified[r.receiver]
		if !ok || r.repeat <= 0 || now.Sub(n.At) < r.repeat || h.blocks(i) {
			continue
		}
		n.At = now
		n.Reminders++
		st.notified[r.receiver] = n
		e.dirtyAlerts[st.Fingerprint] = true
		e.emit(e.alertNotification(st, notify.KindReminder, notify.StatusFiring, r.receiver, now, "reminder/"+strconv.Itoa(n.Reminders)), r, st.Labels, now)
	}
}

// resolveAlert ends an alert: every receiver told it fired hears it is
// resolved (send_resolved permitting), muted or not; then it is forgotten.
func (e *Engine) resolveAlert(st *alertState, now time.Time) {
	e.logger.Info("Alert resolved", "alertname", st.Labels[model.AlertNameLabel], "fingerprint", st.Fingerprint)
	for _, name := range sortedKeys(st.notified) {
		r := st.pol.routeTo(name)
		// A receiver no longer configured: see closeIncident.
		if r != nil && !r.sendResolved {
			continue
		}
		e.emit(e.alertNotification(st, notify.KindUp, notify.StatusResolved, name, now, "up"), r, st.Labels, now)
	}
	delete(e.alerts, st.Fingerprint)
	e.dirtyAlerts[st.Fingerprint] = true
	e.metrics.alerts.Set(float64(len(e.alerts)))
	e.alertsChanged()
}

// expireAlerts resolves the alerts whose endsAt has passed.
func (e *Engine) expireAlerts(now time.Time) {
	if e.nextExpiry.IsZero() || e.nextExpiry.After(now) {
		return
	}
	e.nextExpiry = time.Time{}
	for _, fp := range sortedKeys(e.alerts) {
		st := e.alerts[fp]
		if !st.EndsAt.After(now) {
			e.resolveAlert(st, now)
			continue
		}
		if e.nextExpiry.IsZero() || st.EndsAt.Before(e.nextExpiry) {
			e.nextExpiry = st.EndsAt
		}
	}
}

func (e *Engine) alertNotification(st *alertState, kind notify.Kind, status, receiver string, now time.Time, step string) *notify.Notification {
	a := st.Alert
	a.Status = status
	if status == notify.StatusFiring {
		a.EndsAt = time.Time{}
	} else if a.EndsAt.After(now) {
		a.EndsAt = now
	}
	return &notify.Notification{
		Key:               "alert|" + st.Fingerprint + "|" + strconv.FormatInt(st.incident.UnixNano(), 10) + "|" + step,
		Receiver:          receiver,
		Kind:              kind,
		Status:            status,
		Alerts:            []notify.Alert{a},
		GroupLabels:       st.Labels,
		CommonLabels:      st.Labels,
		CommonAnnotations: st.Annotations,
		ExternalURL:       e.externalURL,
		CreatedAt:         now,
	}
}

func (st *alertState) record() *store.AlertRecord {
	return &store.AlertRecord{Alert: st.Alert, UpdatedAt: st.updatedAt, Incident: st.incident, Notified: st.notified}
}

// restoreAlerts takes back the alerts saved by the last run; those whose
// endsAt passed meanwhile are resolved at the first housekeeping.
func (e *Engine) restoreAlerts(recs map[string]*store.AlertRecord) {
	for fp, rec := range recs {
		st := &alertState{Alert: rec.Alert, updatedAt: rec.UpdatedAt, incident: rec.Incident, notified: rec.Notified}
		st.Fingerprint, st.Status = fp, notify.StatusFiring
		if st.Annotations == nil {
			st.Annotations = map[string]string{}
		}
		st.pol = e.policyFor(st.Labels)
		e.holdAlert(st, e.now())
		e.alerts[fp] = st
		if e.nextExpiry.IsZero() || st.EndsAt.Before(e.nextExpiry) {
			e.nextExpiry = st.EndsAt
		}
	}
	e.metrics.alerts.Set(float64(len(e.alerts)))
}
