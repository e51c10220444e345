package engine

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// policy is what the rules say about one check or alert.
type policy struct {
	matched             bool
	failures, successes int
	routes              []route
	// dependsOn are the parent selectors of every matching rule.
	dependsOn []config.Matchers
	// flap is the first matching rule's flap detection (nil: none).
	flap *config.FlapDetection
}

// route is one receiver a check's notifications go to.
type route struct {
	receiver     string
	sendResolved bool
	repeat       time.Duration // 0: no reminders
	// groupBy is nil when notifications are sent one by one.
	groupBy   []string
	groupWait time.Duration
	// mute and active are the rule's maintenance windows and working
	// hours (mute_time_intervals, active_time_intervals).
	mute, active []*config.TimeIntervalSet
}

var defaultPolicy = &policy{failures: 3, successes: 2}

// policyFor applies the rules to a check's labels. The first matching rule
// decides failures, successes and flap detection; it and the rules reached
// through `continue: true` contribute receivers and parents (depends_on). A
// receiver reached twice is notified once, with send_resolved if any of
// its rules asks for it and the shortest non-zero repeat_interval; its
// grouping and time intervals are those of the first rule that reaches
// it. A check no rule matches is still evaluated (its state is shown) but
// notifies nobody.
func (e *Engine) policyFor(labels map[string]string) *policy {
	var p *policy
	for i := range e.cfg.Rules {
		r := &e.cfg.Rules[i]
		if !r.Matchers.Matches(labels) {
			continue
		}
		if p == nil {
			p = &policy{matched: true, failures: r.Failures, successes: r.Successes, flap: r.FlapDetection}
		}
		if len(r.DependsOn) > 0 {
			p.dependsOn = append(p.dependsOn, r.DependsOn)
		}
		for _, name := range r.Receivers {
			repeat := time.Duration(r.RepeatInterval)
			found := false
			for j := range p.routes {
				rt := &p.routes[j]
				if rt.receiver != name {
					continue
				}
				found = true
				rt.sendResolved = rt.sendResolved || r.SendResolved
				if repeat > 0 && (rt.repeat == 0 || repeat < rt.repeat) {
					rt.repeat = repeat
				}
			}
			if !found {
				p.routes = append(p.routes, e.newRoute(r, name))
			}
		}
		if !r.Continue {
			break
		}
	}
	if p == nil {
		return defaultPolicy
	}
	return p
}

func (e *Engine) newRoute(r *config.Rule, receiver string) route {
	rt := route{receiver: receiver, sendResolved: r.SendResolved, repeat: time.Duration(r.RepeatInterval)}
	if r.Grouped() {
		rt.groupBy, rt.groupWait = r.GroupBy, r.GroupWaitOrDefault()
	}
	for _, name := range r.MuteTimeIntervals {
		if s, ok := e.cfg.TimeIntervalSet(name); ok {
			rt.mute = append(rt.mute, s)
		}
	}
	for _, name := range r.ActiveTimeIntervals {
		if s, ok := e.cfg.TimeIntervalSet(name); ok {
			rt.active = append(rt.active, s)
		}
	}
	return rt
}

// routeTo returns the check's route to receiver, or nil when the rules no
// longer send it there.
func (p *policy) routeTo(receiver string) *route {
	for i := range p.routes {
		if p.routes[i].receiver == receiver {
			return &p.routes[i]
		}
	}
	return nil
}

// catchUp announces a DOWN check to each of its receivers that has not
// heard of it yet and may hear of it now: at the transition, and later to
// receivers added by a reload or a label change, to those whose silence or
// maintenance window ended, and to all once the parent check that
// suppressed the DOWN is up again. A flapping check is held.
func (e *Engine) catchUp(c *check, h *hold, now time.Time) {
	if c.State != Down || c.flapping || !c.unannounced() {
		return
	}
	if h == nil {
		h = e.holdCheck(c, now)
	}
	for i := range c.pol.routes {
		r := &c.pol.routes[i]
		if _, ok := c.notified[r.receiver]; ok || h.blocks(i) {
			continue
		}
		if c.notified == nil {
			c.notified = map[string]store.Notified{}
		}
		c.notified[r.receiver] = store.Notified{At: now}
		e.dirty[c.id] = true
		// Said with the probes that confirmed it when announced at the
		// transition; a late announcement (after a silence, a reload) says
		// for how long instead.
		probes := 0
		if c.Failures > 0 && c.FailingSince.Equal(c.Since) {
			probes = c.Failures
		}
		summary := fmt.Sprintf("%s (%s) is DOWN %s: %s", c.target, c.module, notify.SinceText(c.Since, now, probes), c.Reason)
		n := e.checkNotification(c, notify.KindDown, notify.StatusFiring, r.receiver, c.Since, now, "down", summary)
		n.Alerts[0].FailedProbes = probes
		e.emit(n, r, c.labels, now)
	}
}

// unannounced reports whether some receiver of the check has not heard of
// its current incident.
func (c *check) unannounced() bool {
	for _, r := range c.pol.routes {
		if _, ok := c.notified[r.receiver]; !ok {
			return true
		}
	}
	return false
}

// reminders says "still down" to the receivers whose repeat_interval has
// passed since they last heard of the check, unless it is muted or
// suppressed now (a silence acknowledges an incident: no more reminders).
func (e *Engine) reminders(c *check, h *hold, now time.Time) {
	if c.State != Down || c.flapping {
		return
	}
	for i := range c.pol.routes {
		r := &c.pol.routes[i]
		n, ok := c.notified[r.receiver]
		if !ok || r.repeat <= 0 || now.Sub(n.At) < r.repeat {
			continue
		}
		if h == nil {
			h = e.holdCheck(c, now)
		}
		if h.blocks(i) {
			continue
		}
		n.At = now
		n.Reminders++
		c.notified[r.receiver] = n
		e.dirty[c.id] = true
		summary := fmt.Sprintf("%s (%s) is still DOWN %s: %s", c.target, c.module, notify.SinceText(c.Since, now, 0), c.Reason)
		e.emit(e.checkNotification(c, notify.KindReminder, notify.StatusFiring, r.receiver, c.Since, now, "reminder/"+strconv.Itoa(n.Reminders), summary), r, c.labels, now)
	}
}

// resolved closes an announced incident: every receiver that heard of it
// hears of its end (unless send_resolved is false for it), even if a
// reload no longer routes the check there, and whether or not it is muted
// now: a recovery of a notified incident is always sent.
func (e *Engine) resolved(c *check, now time.Time, why string, incident time.Time) {
	var summary string
	switch why {
	case "removed":
		was := "DOWN"
		if c.flapping {
			was = "FLAPPING"
		}
		summary = fmt.Sprintf("%s (%s) was removed from discovery while %s (since %s)",
			c.target, c.module, was, notify.FormatWhen(incident, now))
	default:
		summary = fmt.Sprintf("%s (%s) is UP again after %s (down since %s)",
			c.target, c.module, notify.HumanizeDuration(now.Sub(incident)), notify.FormatWhen(incident, now))
	}
	e.closeIncident(c, now, notify.KindUp, "up", incident, summary, func(n *notify.Notification) {
		n.Alerts[0].Annotations["resolution"] = why
	})
}

// closeIncident sends a resolution (UP, or STABLE after flapping) to every
// receiver told about the incident, then forgets them.
func (e *Engine) closeIncident(c *check, now time.Time, kind notify.Kind, step string, incident time.Time, summary string, decorate func(*notify.Notification)) {
	for _, name := range sortedKeys(c.notified) {
		r := c.pol.routeTo(name)
		// A receiver no longer configured still gets the recovery: dispatch
		// sends it after the DOWN if that waits there too (so that the two
		// go, or expire, together), and forgets it otherwise.
		if r != nil && !r.sendResolved {
			continue
		}
		n := e.checkNotification(c, kind, notify.StatusResolved, name, incident, now, step, summary)
		if decorate != nil {
			decorate(n)
		}
		e.emit(n, r, c.labels, now)
	}
	c.notified = nil
	e.dirty[c.id] = true
}

func (e *Engine) checkNotification(c *check, kind notify.Kind, status, receiver string, incident, now time.Time, step, summary string) *notify.Notification {
	var endsAt time.Time
	reason := c.Reason
	if status == notify.StatusResolved {
		endsAt, reason = now, ""
	}
	annotations := map[string]string{"summary": summary}
	if c.Reason != "" {
		annotations["description"] = c.Reason
	}
	return &notify.Notification{
		Key:      "check|" + c.id + "|" + strconv.FormatInt(incident.UnixNano(), 10) + "|" + step,
		Receiver: receiver,
		Kind:     kind,
		Status:   status,
		Alerts: []notify.Alert{{
			Labels:       c.labels,
			Annotations:  annotations,
			StartsAt:     incident,
			EndsAt:       endsAt,
			GeneratorURL: e.debugURL(c),
			Fingerprint:  c.fingerprint,
			Status:       status,
			Reason:       reason,
			Check:        true,
		}},
		GroupLabels:       map[string]string{"alertname": AlertCheckDown, "instance": c.labels["instance"], "module": c.module},
		CommonLabels:      c.labels,
		CommonAnnotations: annotations,
		ExternalURL:       e.externalURL,
		CreatedAt:         now,
	}
}

// debugURL links to the exporter's debug output of a probe of the check.
func (e *Engine) debugURL(c *check) string {
	return e.cfg.Exporter.ProbeEndpoint() + "?debug=true&module=" + url.QueryEscape(c.module) + "&target=" + url.QueryEscape(c.target)
}

// exporterHealth is the "exporter unreachable" alert, fed by every request
// the router makes to the exporter.
type exporterHealth struct {
	down     bool
	since    time.Time // first error of the current streak, or of the incident
	failures int       // consecutive errors
	reason   string
	notified map[string]store.Notified
}

func (h *exporterHealth) restore(rec *store.CheckRecord) {
	state, _ := parseState(rec.State) // checked by readSavedState
	h.down = state == Down
	h.since, h.reason, h.notified = rec.Since, rec.Reason, rec.Notified
}

func (h *exporterHealth) record() *store.CheckRecord {
	state := Up
	if h.down {
		state = Down
	}
	return &store.CheckRecord{State: state.String(), Since: h.since, Reason: h.reason, Notified: h.notified}
}

// exporterFailed counts an exporter error. The alert is raised once the
// errors have lasted exporter.alert_after, with at least exporter.failures
// of them in a row: a restart of the exporter stays quiet, an outage does
// not. Check states are not touched.
func (e *Engine) exporterFailed(err error, now time.Time) {
	h := &e.health
	if h.failures == 0 && !h.down {
		h.since = now
	}
	h.failures++
	h.reason = err.Error()
	if h.down || h.failures < e.cfg.Exporter.Failures || now.Sub(h.since) < e.cfg.Exporter.AlertAfter.Std() {
		return
	}
	h.down = true
	e.metrics.exporterUp.Set(0)
	e.saveHealth = true
	e.logger.Error("Exporter unreachable; check states are kept until it answers again", "url", e.cfg.Exporter.URL, "err", err, "since", h.since)
	e.viewDirty = true
	h.notified = map[string]store.Notified{}
	// A silence on the exporter's alert keeps it quiet for this incident
	// (maintenance windows belong to rules, which do not route it).
	if by := e.silences(exporterLabels(e.cfg.Exporter.URL), now); len(by) > 0 {
		e.logger.Info("Exporter unreachable is silenced; not notified", "silenced_by", by)
		return
	}
	for _, name := range e.cfg.ExporterReceivers() {
		h.notified[name] = store.Notified{At: now}
		summary := fmt.Sprintf("exporter %s is unreachable %s: %s (check states are kept until it answers)",
			e.cfg.Exporter.URL, notify.SinceText(h.since, now, 0), h.reason)
		e.emit(e.exporterNotification(name, notify.StatusFiring, now, "down", summary), nil, nil, now)
	}
}

func exporterLabels(url string) map[string]string {
	return map[string]string{"alertname": AlertExporterUnreachable, "instance": url}
}

// exporterAnswered notes a good answer; it ends an exporter incident.
func (e *Engine) exporterAnswered(now time.Time) {
	h := &e.health
	if h.failures == 0 && !h.down {
		return
	}
	h.failures = 0
	if !h.down {
		return
	}
	h.down = false
	e.metrics.exporterUp.Set(1)
	e.saveHealth = true
	e.logger.Info("Exporter answers again", "url", e.cfg.Exporter.URL)
	e.viewDirty = true
	for _, name := range sortedKeys(h.notified) {
		// A receiver no longer configured: see closeIncident.
		summary := fmt.Sprintf("exporter %s answers again after %s (unreachable since %s)",
			e.cfg.Exporter.URL, notify.HumanizeDuration(now.Sub(h.since)), notify.FormatWhen(h.since, now))
		e.emit(e.exporterNotification(name, notify.StatusResolved, now, "up", summary), nil, nil, now)
	}
	h.notified = nil
}

func (e *Engine) exporterNotification(receiver, status string, now time.Time, step, summary string) *notify.Notification {
	h := &e.health
	labels := exporterLabels(e.cfg.Exporter.URL)
	annotations := map[string]string{"summary": summary}
	a := notify.Alert{
		Labels: labels, Annotations: annotations, StartsAt: h.since,
		Fingerprint: fingerprint(labels), Status: status,
	}
	kind := notify.KindExporterErr
	if status == notify.StatusResolved {
		a.EndsAt = now
	} else {
		a.Reason = h.reason
		annotations["description"] = h.reason
	}
	return &notify.Notification{
		Key:      "exporter|" + strconv.FormatInt(h.since.UnixNano(), 10) + "|" + step,
		Receiver: receiver, Kind: kind, Status: status,
		Alerts:            []notify.Alert{a},
		GroupLabels:       map[string]string{"alertname": AlertExporterUnreachable},
		CommonLabels:      labels,
		CommonAnnotations: annotations,
		ExternalURL:       e.externalURL,
		CreatedAt:         now,
	}
}
