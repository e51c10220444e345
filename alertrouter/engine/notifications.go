package engine

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// policy is what the rules say about one check.
type policy struct {
	matched             bool
	failures, successes int
	routes              []route
}

// route is one receiver a check's notifications go to.
type route struct {
	receiver     string
	sendResolved bool
	repeat       time.Duration // 0: no reminders
}

var defaultPolicy = &policy{failures: 3, successes: 2}

// policyFor applies the rules to a check's labels. The first matching rule
// decides failures and successes; it and the rules reached through
// `continue: true` contribute receivers. A receiver reached twice is
// notified once, with send_resolved if any of its rules asks for it and
// the shortest non-zero repeat_interval. A check no rule matches is still
// evaluated (its state is shown) but notifies nobody.
func (e *Engine) policyFor(labels map[string]string) *policy {
	var p *policy
	for i := range e.cfg.Rules {
		r := &e.cfg.Rules[i]
		if !r.Matchers.Matches(labels) {
			continue
		}
		if p == nil {
			p = &policy{matched: true, failures: r.Failures, successes: r.Successes}
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
				p.routes = append(p.routes, route{receiver: name, sendResolved: r.SendResolved, repeat: repeat})
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

// catchUp announces a DOWN check to each of its receivers that has not
// heard of it yet: at the transition, and later to receivers added by a
// reload or a label change.
func (e *Engine) catchUp(c *check, now time.Time) []*notify.Notification {
	if c.State != Down {
		return nil
	}
	var ns []*notify.Notification
	for _, r := range c.pol.routes {
		if _, ok := c.notified[r.receiver]; ok {
			continue
		}
		if c.notified == nil {
			c.notified = map[string]store.Notified{}
		}
		c.notified[r.receiver] = store.Notified{At: now}
		e.dirty[c.id] = true
		summary := fmt.Sprintf("%s (%s) is DOWN: %s", c.target, c.module, c.Reason)
		ns = append(ns, e.checkNotification(c, notify.KindDown, r.receiver, c.Since, now, "down", summary))
	}
	return ns
}

// reminders says "still down" to the receivers whose repeat_interval has
// passed since they last heard of the check.
func (e *Engine) reminders(c *check, now time.Time) []*notify.Notification {
	var ns []*notify.Notification
	for _, r := range c.pol.routes {
		n, ok := c.notified[r.receiver]
		if !ok || r.repeat <= 0 || now.Sub(n.At) < r.repeat {
			continue
		}
		n.At = now
		n.Reminders++
		c.notified[r.receiver] = n
		e.dirty[c.id] = true
		summary := fmt.Sprintf("%s (%s) is still DOWN since %s (%s): %s",
			c.target, c.module, c.Since.UTC().Format(time.RFC3339), roundDuration(now.Sub(c.Since)), c.Reason)
		ns = append(ns, e.checkNotification(c, notify.KindReminder, r.receiver, c.Since, now, "reminder/"+strconv.Itoa(n.Reminders), summary))
	}
	return ns
}

// resolved closes an announced incident: every receiver that heard of it
// hears of its end (unless send_resolved is false for it), even if a
// reload no longer routes the check there.
func (e *Engine) resolved(c *check, now time.Time, why string, incident time.Time) []*notify.Notification {
	var ns []*notify.Notification
	for _, name := range sortedKeys(c.notified) {
		send := true
		for _, r := range c.pol.routes {
			if r.receiver == name {
				send = r.sendResolved
			}
		}
		if _, exists := e.cfg.Receiver(name); !exists {
			e.logger.Warn("Receiver of an incident no longer exists; its recovery is not sent", "receiver", name, "target", c.target)
			continue
		}
		if !send {
			continue
		}
		var summary string
		switch why {
		case "removed":
			summary = fmt.Sprintf("%s (%s) was removed from discovery while DOWN (since %s)",
				c.target, c.module, incident.UTC().Format(time.RFC3339))
		default:
			summary = fmt.Sprintf("%s (%s) is UP again after %s down", c.target, c.module, roundDuration(now.Sub(incident)))
		}
		n := e.checkNotification(c, notify.KindUp, name, incident, now, "up", summary)
		n.Alerts[0].Annotations["resolution"] = why
		ns = append(ns, n)
	}
	c.notified = nil
	e.dirty[c.id] = true
	return ns
}

func (e *Engine) checkNotification(c *check, kind notify.Kind, receiver string, incident, now time.Time, step, summary string) *notify.Notification {
	status := notify.StatusFiring
	var endsAt time.Time
	if kind == notify.KindUp {
		status, endsAt = notify.StatusResolved, now
	}
	annotations := map[string]string{"summary": summary}
	if c.Reason != "" {
		annotations["description"] = c.Reason
	}
	reason := c.Reason
	if kind == notify.KindUp {
		reason = ""
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
	h.down = parseState(rec.State) == Down
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
	h.notified = map[string]store.Notified{}
	var ns []*notify.Notification
	for _, name := range e.cfg.ExporterReceivers() {
		h.notified[name] = store.Notified{At: now}
		summary := fmt.Sprintf("exporter %s is unreachable since %s: %s (check states are kept until it answers)",
			e.cfg.Exporter.URL, h.since.UTC().Format(time.RFC3339), h.reason)
		ns = append(ns, e.exporterNotification(name, notify.StatusFiring, now, "down", summary))
	}
	e.enqueue(ns, now)
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
	var ns []*notify.Notification
	for _, name := range sortedKeys(h.notified) {
		if _, ok := e.cfg.Receiver(name); !ok {
			continue
		}
		summary := fmt.Sprintf("exporter %s answers again after %s", e.cfg.Exporter.URL, roundDuration(now.Sub(h.since)))
		ns = append(ns, e.exporterNotification(name, notify.StatusResolved, now, "up", summary))
	}
	h.notified = nil
	e.enqueue(ns, now)
}

func (e *Engine) exporterNotification(receiver, status string, now time.Time, step, summary string) *notify.Notification {
	h := &e.health
	labels := map[string]string{"alertname": AlertExporterUnreachable, "instance": e.cfg.Exporter.URL}
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

// roundDuration keeps durations readable in messages ("1h2m3s").
func roundDuration(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}
