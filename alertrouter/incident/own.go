package incident

import (
	"fmt"
	"strconv"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/health"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// The router's own alerts (the exporter unreachable, the store replaced)
// follow no rule: they go to every receiver some rule uses
// (config.RouterConfig.ExporterReceivers). A silence on them keeps them
// quiet; maintenance windows belong to rules, which do not route them.

var _ health.Sink = (*Stage)(nil)

func exporterLabels(url string) map[string]string {
	return map[string]string{"alertname": AlertExporterUnreachable, "instance": url}
}

// ExporterDown implements health.Sink.
func (s *Stage) ExporterDown(url string, since time.Time, reason string, now time.Time) {
	s.exporter = map[string]store.Notified{}
	s.exporterDirty = true
	// A silence on the exporter's alert keeps it quiet for this incident.
	if by := s.silences(exporterLabels(url), now); len(by) > 0 {
		s.logger.Info("Exporter unreachable is silenced; not notified", "silenced_by", by)
		return
	}
	for _, name := range s.cfg.ExporterReceivers() {
		s.exporter[name] = store.Notified{At: now}
		summary := fmt.Sprintf("exporter %s is unreachable %s: %s (check states are kept until it answers)",
			url, notify.SinceText(since, now, 0), reason)
		s.emit(s.exporterNotification(url, since, reason, name, notify.StatusFiring, now, "down", summary), nil, nil, now)
	}
}

// ExporterUp implements health.Sink.
func (s *Stage) ExporterUp(url string, since time.Time, now time.Time) {
	for _, name := range sortedKeys(s.exporter) {
		// A receiver no longer configured: see closeIncident.
		summary := fmt.Sprintf("exporter %s answers again after %s (unreachable since %s)",
			url, notify.HumanizeDuration(now.Sub(since)), notify.FormatWhen(since, now))
		s.emit(s.exporterNotification(url, since, "", name, notify.StatusResolved, now, "up", summary), nil, nil, now)
	}
	s.exporter = nil
	s.exporterDirty = true
}

// ExporterNotified returns who was told the exporter is unreachable.
func (s *Stage) ExporterNotified() map[string]store.Notified { return s.exporter }

// RestoreExporter takes back who was told by the last run.
func (s *Stage) RestoreExporter(notified map[string]store.Notified) { s.exporter = notified }

func (s *Stage) exporterNotification(url string, since time.Time, reason, receiver, status string, now time.Time, step, summary string) *notify.Notification {
	labels := exporterLabels(url)
	annotations := map[string]string{"summary": summary}
	a := notify.Alert{
		Labels: labels, Annotations: annotations, StartsAt: since,
		Fingerprint: notify.Fingerprint(labels), Status: status,
	}
	if status == notify.StatusResolved {
		a.EndsAt = now
	} else {
		a.Reason = reason
		annotations["description"] = reason
	}
	return &notify.Notification{
		Key:      "exporter|" + strconv.FormatInt(since.UnixNano(), 10) + "|" + step,
		Receiver: receiver, Kind: notify.KindExporterErr, Status: status,
		Alerts:            []notify.Alert{a},
		GroupLabels:       map[string]string{"alertname": AlertExporterUnreachable},
		CommonLabels:      labels,
		CommonAnnotations: annotations,
		ExternalURL:       s.externalURL,
		CreatedAt:         now,
	}
}

// StoreDamaged tells the router's own receivers that the store was
// replaced: what was lost is exactly what would make the next messages
// surprising (DOWNs announced again, silences gone). It is a one-off
// notice: the new store works, nothing resolves it.
func (s *Stage) StoreDamaged(d *store.Damage, now time.Time) {
	labels := map[string]string{"alertname": AlertStoreDamaged, "instance": d.Path}
	reason := d.Err.Error()
	annotations := map[string]string{
		"summary": fmt.Sprintf("vigie_router's store %s could not be read and was replaced by an empty one at %s: %s",
			d.Path, notify.FormatWhen(d.At, now), reason),
		"description": "The damaged file is kept as " + d.MovedTo + ". Check states, silences and pending notifications were lost: " +
			"checks that are DOWN will be announced again, and silences must be set again.",
	}
	for _, name := range s.cfg.ExporterReceivers() {
		s.emit(&notify.Notification{
			Key:      "store|" + d.MovedTo + "|damaged",
			Receiver: name, Kind: notify.KindStoreDamaged, Status: notify.StatusFiring,
			Alerts: []notify.Alert{{
				Labels: labels, Annotations: annotations, StartsAt: d.At,
				Fingerprint: notify.Fingerprint(labels), Status: notify.StatusFiring, Reason: reason,
			}},
			GroupLabels:       map[string]string{"alertname": AlertStoreDamaged},
			CommonLabels:      labels,
			CommonAnnotations: annotations,
			ExternalURL:       s.externalURL,
			CreatedAt:         now,
		}, nil, nil, now)
	}
}
