package api

import (
	"strings"

	"github.com/google/uuid"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// checkAlert is a DOWN check as GET /api/v2/alerts shows it: the alert its
// notifications carry (alertname ProbeFailed, the check's labels), so that
// amtool and Grafana list what is down beside Prometheus's alerts. With
// several locations it carries the locations_failing annotation.
func checkAlert(c *view.CheckView) GettableAlert {
	annotations := map[string]string{
		"summary":     c.Target + " (" + c.Module + ") is DOWN",
		"description": c.Reason,
	}
	var failing []string
	for _, l := range c.Locations {
		if l.Failing {
			failing = append(failing, l.Location)
		}
	}
	if len(failing) > 0 {
		annotations["locations_failing"] = strings.Join(failing, ",")
	}
	g := GettableAlert{
		Labels: c.Labels, Annotations: annotations,
		StartsAt: c.Since, UpdatedAt: c.Since,
		Fingerprint: notify.Fingerprint(c.Labels),
		Receivers:   make([]Receiver, len(c.Notified)),
		Status:      AlertStatus{State: "active", SilencedBy: []string{}, InhibitedBy: []string{}},
	}
	if g.Labels == nil {
		g.Labels = map[string]string{}
	}
	for i, name := range c.Notified {
		g.Receivers[i] = Receiver{Name: name}
	}
	for _, by := range c.MutedBy {
		if _, err := uuid.Parse(by); err == nil {
			g.Status.SilencedBy = append(g.Status.SilencedBy, by)
		}
	}
	if c.SuppressedBy != "" {
		g.Status.InhibitedBy = append(g.Status.InhibitedBy, c.SuppressedBy)
	}
	if len(c.MutedBy) > 0 || c.SuppressedBy != "" {
		g.Status.State = "suppressed"
	}
	return g
}
