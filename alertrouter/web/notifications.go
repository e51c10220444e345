package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// The recent notifications the page lists, with their delivery state and
// a one-line summary each.
type notificationRow struct {
	At          time.Time
	Integration string
	What        string
	Outcome     string
	Class       string
	Detail      string
}

// notifications reads the store at most once a second: it scans the
// notification log.
func (p *Page) notifications(now time.Time, alerts []view.AlertView) ([]notificationRow, error) {
	p.notifMu.Lock()
	defer p.notifMu.Unlock()
	if !p.notifAt.IsZero() && now.Sub(p.notifAt) < time.Second && now.After(p.notifAt) {
		return p.notifCache, p.notifErr
	}
	recs, err := p.o.Notifications(maxNotifications)
	rows := make([]notificationRow, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		id := r.Integration + "|" + r.Key
		if n := r.Notification; n != nil {
			p.summaries.put(id, summarize(n))
		}
		row := toRow(r, now)
		if s, ok := p.summaries.get(id); ok {
			row.What = s
		} else if what := describeAlertKey(r.Key, alerts); what != "" {
			row.What = what
		}
		rows = append(rows, row)
	}
	p.notifAt, p.notifCache, p.notifErr = now, rows, err
	return rows, err
}

func toRow(r *store.NotificationRecord, now time.Time) notificationRow {
	row := notificationRow{At: r.At, Integration: r.Integration, What: describeKey(r.Key), Outcome: r.Outcome, Class: r.Outcome}
	switch r.Outcome {
	case store.OutcomePending:
		if r.Notification != nil {
			row.What = summarize(r.Notification)
		}
		if r.Attempts > 0 {
			row.Detail = fmt.Sprintf("%d attempts, next %s: %s", r.Attempts, ago(r.NextAttempt, now), r.LastError)
		}
	case store.OutcomeFailed:
		row.Detail = "permanent error (see the log)"
		if r.LastError != "" {
			row.Detail = "permanent error: " + r.LastError
		}
	case store.OutcomeExpired:
		row.Class = "expired-delivery"
		row.Detail = "dropped after delivery.max_age"
		if r.LastError != "" {
			row.Detail = "dropped: " + r.LastError
		}
	}
	return row
}

// summarize says what a notification announces, in one line.
func summarize(n *notify.Notification) string {
	if s := n.CommonAnnotations["summary"]; s != "" {
		return s
	}
	if len(n.Alerts) == 0 {
		return describeKey(n.Key)
	}
	first := n.Alerts[0].Annotations["summary"]
	if first == "" {
		first = labelsString(n.Alerts[0].Labels)
		if name := n.Alerts[0].Labels["alertname"]; name != "" {
			first = name + " " + first
		}
	}
	if len(n.Alerts) == 1 {
		return first
	}
	return fmt.Sprintf("%d alerts %s: %s, …", len(n.Alerts), strings.ToUpper(n.Status), first)
}

// describeKey makes a notification key readable when its content is no
// longer known (the notification log keeps keys only): check keys are
// "check|<module> <target>|<incident>|<step>".
func describeKey(key string) string {
	parts := strings.Split(key, "|")
	switch {
	case len(parts) == 4 && parts[0] == "check":
		module, target, _ := strings.Cut(parts[1], " ")
		return fmt.Sprintf("%s (%s): %s", target, module, parts[3])
	case len(parts) == 4 && parts[0] == "alert":
		return fmt.Sprintf("alert %s: %s", parts[1], parts[3])
	case len(parts) == 3 && parts[0] == "group":
		return "grouped notification: " + parts[2]
	case len(parts) == 3 && parts[0] == "exporter":
		return "exporter unreachable: " + parts[2]
	}
	return key
}

// describeAlertKey names a Prometheus alert's notification by the alert,
// while the router still knows it.
func describeAlertKey(key string, alerts []view.AlertView) string {
	parts := strings.Split(key, "|")
	if len(parts) != 4 || parts[0] != "alert" {
		return ""
	}
	for i := range alerts {
		if a := &alerts[i]; a.Fingerprint == parts[1] {
			return fmt.Sprintf("%s {%s}: %s", a.Labels["alertname"], labelsString(a.Labels), parts[3])
		}
	}
	return ""
}

// summaryCache remembers what recent notifications said, so that they
// are still described once delivered (the notification log keeps keys
// only). It forgets the oldest beyond its size.
type summaryCache struct {
	byID  map[string]string
	order []string
}

const summaryCacheSize = 512

func (c *summaryCache) put(id, summary string) {
	if c.byID == nil {
		c.byID = map[string]string{}
	}
	if _, ok := c.byID[id]; !ok {
		c.order = append(c.order, id)
		if len(c.order) > summaryCacheSize {
			delete(c.byID, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.byID[id] = summary
}

func (c *summaryCache) get(id string) (string, bool) {
	s, ok := c.byID[id]
	return s, ok
}
