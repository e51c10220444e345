package incident

import (
	"strconv"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/alerts"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/rules"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Prometheus alerts (from the ingest stage) are routed through the same
// rules and receivers as checks: firing is a DOWN (KindDown, "FIRING"),
// resolved an UP; repeat_interval reminds; grouping, silences,
// maintenance windows and depends_on apply.

// alert is one firing alert's incident.
type alert struct {
	a        *alerts.Alert // the ingest stage's, read here only
	pol      *rules.Policy
	notified map[string]store.Notified

	// For views, as last evaluated.
	silencedBy   []string
	mutedBy      []string // time intervals
	suppressedBy string
	allMuted     bool // every route is held
}

var _ alerts.Sink = (*Stage)(nil)

// AlertFiring implements alerts.Sink: FIRING to the receivers that have
// not heard of the alert and may hear of it now, and reminders that are
// due.
func (s *Stage) AlertFiring(a *alerts.Alert, now time.Time) {
	st := s.alerts[a.Fingerprint]
	if st == nil {
		st = &alert{a: a, pol: s.Policy(a.Labels)}
		s.alerts[a.Fingerprint] = st
	}
	s.dirtyAlerts[a.Fingerprint] = true
	s.alertsChanged()
	h := s.holdAlert(st, now)
	s.announceAlert(st, h, now)
	s.remindAlert(st, h, now)
}

// AlertResolved implements alerts.Sink: every receiver told it fired hears
// it is resolved (send_resolved permitting), muted or not; then it is
// forgotten.
func (s *Stage) AlertResolved(a *alerts.Alert, now time.Time) {
	st := s.alerts[a.Fingerprint]
	if st == nil {
		return
	}
	for _, name := range sortedKeys(st.notified) {
		r := st.pol.RouteTo(name)
		// A receiver no longer configured: see closeIncident.
		if r != nil && !r.SendResolved {
			continue
		}
		s.emit(s.alertNotification(st, notify.KindUp, notify.StatusResolved, name, now, "up"), r, a.Labels, now)
	}
	delete(s.alerts, a.Fingerprint)
	s.dirtyAlerts[a.Fingerprint] = true
	s.alertsChanged()
}

// RestoreAlert takes back an alert saved by the last run, with who was
// told of it.
func (s *Stage) RestoreAlert(a *alerts.Alert, notified map[string]store.Notified, now time.Time) {
	st := &alert{a: a, pol: s.Policy(a.Labels), notified: notified}
	s.holdAlert(st, now)
	s.alerts[a.Fingerprint] = st
	s.alertsChanged()
}

// AlertNotified returns who was told the alert fires.
func (s *Stage) AlertNotified(fp string) map[string]store.Notified {
	if st := s.alerts[fp]; st != nil {
		return st.notified
	}
	return nil
}

// ReconfigureAlerts gives every alert the policy of a reloaded
// configuration and announces it where it may be now.
func (s *Stage) ReconfigureAlerts(now time.Time) {
	for _, fp := range sortedKeys(s.alerts) {
		st := s.alerts[fp]
		st.pol = s.Policy(st.a.Labels)
		s.announceAlert(st, s.holdAlert(st, now), now)
	}
	s.alertsChanged()
}

// holdAlert evaluates what holds back an alert's notifications and records
// it for views.
func (s *Stage) holdAlert(st *alert, now time.Time) *hold {
	h := s.holdFor(st.a.Labels, st.pol, nil, now)
	st.silencedBy, st.mutedBy, st.suppressedBy = h.silenced, h.windowNames(), h.parent
	st.allMuted = len(st.pol.Routes) > 0
	for i := range st.pol.Routes {
		st.allMuted = st.allMuted && h.blocks(i)
	}
	return h
}

// announceAlert sends FIRING to the alert's receivers that have not heard
// of it and may hear of it now.
func (s *Stage) announceAlert(st *alert, h *hold, now time.Time) {
	for i := range st.pol.Routes {
		r := &st.pol.Routes[i]
		if _, ok := st.notified[r.Receiver]; ok || h.blocks(i) {
			continue
		}
		if st.notified == nil {
			st.notified = map[string]store.Notified{}
		}
		st.notified[r.Receiver] = store.Notified{At: now}
		s.dirtyAlerts[st.a.Fingerprint] = true
		s.emit(s.alertNotification(st, notify.KindDown, notify.StatusFiring, r.Receiver, now, "down"), r, st.a.Labels, now)
	}
}

// remindAlert says "still firing" after repeat_interval, unless held.
func (s *Stage) remindAlert(st *alert, h *hold, now time.Time) {
	for i := range st.pol.Routes {
		r := &st.pol.Routes[i]
		n, ok := st.notified[r.Receiver]
		if !ok || r.Repeat <= 0 || now.Sub(n.At) < r.Repeat || h.blocks(i) {
			continue
		}
		n.At = now
		n.Reminders++
		st.notified[r.Receiver] = n
		s.dirtyAlerts[st.a.Fingerprint] = true
		s.emit(s.alertNotification(st, notify.KindReminder, notify.StatusFiring, r.Receiver, now, "reminder/"+strconv.Itoa(n.Reminders)), r, st.a.Labels, now)
	}
}

func (s *Stage) alertNotification(st *alert, kind notify.Kind, status, receiver string, now time.Time, step string) *notify.Notification {
	a := st.a.Alert
	a.Status = status
	if status == notify.StatusFiring {
		a.EndsAt = time.Time{}
	} else if a.EndsAt.After(now) {
		a.EndsAt = now
	}
	return &notify.Notification{
		Key:               "alert|" + st.a.Fingerprint + "|" + strconv.FormatInt(st.a.Opened.UnixNano(), 10) + "|" + step,
		Receiver:          receiver,
		Kind:              kind,
		Status:            status,
		Alerts:            []notify.Alert{a},
		GroupLabels:       st.a.Labels,
		CommonLabels:      st.a.Labels,
		CommonAnnotations: st.a.Annotations,
		ExternalURL:       s.externalURL,
		CreatedAt:         now,
	}
}
