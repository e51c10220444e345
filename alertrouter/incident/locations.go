package incident

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Probing from several locations (package locations): each check's
// notifications carry the last round from every location, and a location
// whose exporter is unreachable is one incident of the router's own,
// named by its location.

// AnnotationLocationsFailing names the locations that fail a check, in
// the annotations of its DOWN and reminders ("paris,berlin").
const AnnotationLocationsFailing = "locations_failing"

// SetLocations records a check's last round from each location; its next
// notifications carry it. Call it before Observe.
func (s *Stage) SetLocations(id string, locs []notify.LocationResult) {
	if c := s.check(id); c != nil {
		c.setLocations(locs)
	}
}

func locationsFailing(locs []notify.LocationResult) string {
	var out []string
	for _, l := range locs {
		if l.Failing {
			out = append(out, l.Location)
		}
	}
	return strings.Join(out, ",")
}

func locationLabels(location, url string) map[string]string {
	return map[string]string{"alertname": AlertExporterUnreachable, "instance": url, "location": location}
}

// LocationDown implements locations.Sink: one "exporter unreachable"
// incident for the location.
func (s *Stage) LocationDown(location, url string, since time.Time, reason string, now time.Time) {
	if s.locations == nil {
		s.locations = map[string]map[string]store.Notified{}
	}
	told := map[string]store.Notified{}
	s.locations[location] = told
	s.exporterDirty = true
	if by := s.silences(locationLabels(location, url), now); len(by) > 0 {
		s.logger.Info("Exporter unreachable is silenced; not notified", "location", location, "silenced_by", by)
		return
	}
	for _, name := range s.cfg.ExporterReceivers() {
		told[name] = store.Notified{At: now}
		summary := fmt.Sprintf("location %s: exporter %s is unreachable %s: %s (checks are probed from the other locations meanwhile; no target is failed for it)",
			location, url, notify.SinceText(since, now, 0), reason)
		s.emit(s.locationNotification(location, url, since, reason, name, notify.StatusFiring, now, "down", summary), nil, nil, now)
	}
}

// LocationUp implements locations.Sink.
func (s *Stage) LocationUp(location, url string, since time.Time, now time.Time) {
	s.locationResolved(location, url, since, now, fmt.Sprintf("location %s: exporter %s answers again after %s (unreachable since %s)",
		location, url, notify.HumanizeDuration(now.Sub(since)), notify.FormatWhen(since, now)))
}

// LocationRemoved implements locations.Sink.
func (s *Stage) LocationRemoved(location, url string, since time.Time, now time.Time) {
	s.locationResolved(location, url, since, now, fmt.Sprintf("location %s was removed from the configuration while its exporter %s was unreachable (since %s)",
		location, url, notify.FormatWhen(since, now)))
}

func (s *Stage) locationResolved(location, url string, since, now time.Time, summary string) {
	for _, name := range sortedKeys(s.locations[location]) {
		s.emit(s.locationNotification(location, url, since, "", name, notify.StatusResolved, now, "up", summary), nil, nil, now)
	}
	delete(s.locations, location)
	s.exporterDirty = true
}

// LocationNotified returns who was told location's exporter is
// unreachable.
func (s *Stage) LocationNotified(location string) map[string]store.Notified {
	return s.locations[location]
}

// RestoreLocation takes back who was told by the last run.
func (s *Stage) RestoreLocation(location string, notified map[string]store.Notified) {
	if s.locations == nil {
		s.locations = map[string]map[string]store.Notified{}
	}
	s.locations[location] = notified
}

func (s *Stage) locationNotification(location, url string, since time.Time, reason, receiver, status string, now time.Time, step, summary string) *notify.Notification {
	n := s.exporterNotification(url, since, reason, receiver, status, now, step, summary)
	labels := locationLabels(location, url)
	n.Key = "exporter|" + location + "|" + strconv.FormatInt(since.UnixNano(), 10) + "|" + step
	n.Alerts[0].Labels, n.CommonLabels = labels, labels
	n.Alerts[0].Fingerprint = notify.Fingerprint(labels)
	return n
}
